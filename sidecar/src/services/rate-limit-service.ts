import type { BucketKey, RateLimitServiceServer } from '@cpod/proto';
import { ApiError, type KeyValueStore, type Logger, type TokenBucket } from '@cpod/runtime';
import { rateLimitRejections } from '../metrics.js';
import { unary } from '../unary.js';

const PART = /^[\w.:@-]{1,200}$/;

function bucketKey(bucket: BucketKey | undefined): string {
  if (!bucket?.tenantId)
    throw new ApiError('ERR_VALIDATION_FAILED', 'bucket.tenant_id is required', {
      field: 'bucket.tenant_id',
    });
  for (const [name, value] of [
    ['tenant_id', bucket.tenantId],
    ['client_id', bucket.clientId],
    ['key', bucket.key],
  ] as const) {
    if (value && !PART.test(value)) {
      throw new ApiError('ERR_VALIDATION_FAILED', `bucket.${name} has invalid characters`, {
        field: `bucket.${name}`,
      });
    }
  }
  // The tenant always leads the key, so buckets of different tenants can never collide.
  return `rl:${bucket.tenantId}:${bucket.clientId || '-'}:${bucket.key || 'requests'}`;
}

export function rateLimitService(deps: {
  kv: KeyValueStore;
  defaultLimit: TokenBucket;
  logger: Logger;
}): RateLimitServiceServer {
  return {
    checkRateLimit: unary(deps.logger, 'CheckRateLimit', async (request) => {
      const key = bucketKey(request.bucket);
      const limit = request.limit
        ? { capacity: request.limit.capacity, refillPerSecond: request.limit.refillPerSecond }
        : deps.defaultLimit;
      if (!(limit.capacity >= 1) || !(limit.refillPerSecond > 0)) {
        throw new ApiError('ERR_VALIDATION_FAILED', 'limit needs capacity >= 1 and refill_per_second > 0', {
          field: 'limit',
        });
      }
      const cost = Math.max(1, request.cost);
      const result = await deps.kv.takeTokens(key, limit, cost);
      if (!result.allowed) rateLimitRejections.inc();
      return {
        allowed: result.allowed,
        limit: limit.capacity,
        remaining: result.remaining,
        resetAfterMs: Math.ceil(result.resetMs),
        retryAfterMs: Math.ceil(result.retryAfterMs),
      };
    }),

    resetRateLimit: unary(deps.logger, 'ResetRateLimit', async (request) => {
      await deps.kv.delete(bucketKey(request.bucket));
      return {};
    }),
  };
}
