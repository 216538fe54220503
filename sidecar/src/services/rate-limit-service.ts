import type {
  BucketKey,
  CheckRateLimitRequest,
  CheckRateLimitResponse,
  RateLimitServiceServer,
} from '@cpod/proto';
import {
  ApiError,
  type BucketResult,
  createMemoryKeyValue,
  type KeyValueStore,
  type Logger,
  type TokenBucket,
} from '@cpod/runtime';
import { rateLimitRejections } from '../metrics.js';
import { unary } from '../unary.js';
import type { KvOutage } from './kv-outage.js';

// Tenant and client ids never contain ':', which keeps the key layout below unambiguous;
// a custom key may (e.g. "user:42:export") because it always comes last.
const ID = /^[\w.@-]{1,200}$/;
const CUSTOM_KEY = /^[\w.:@-]{1,200}$/;

function validated(bucket: BucketKey | undefined): Required<BucketKey> {
  if (!bucket?.tenantId)
    throw new ApiError('ERR_VALIDATION_FAILED', 'bucket.tenant_id is required', {
      field: 'bucket.tenant_id',
    });
  for (const [name, value, pattern] of [
    ['tenant_id', bucket.tenantId, ID],
    ['client_id', bucket.clientId, ID],
    ['key', bucket.key, CUSTOM_KEY],
  ] as const) {
    if (value && !pattern.test(value)) {
      throw new ApiError('ERR_VALIDATION_FAILED', `bucket.${name} has invalid characters`, {
        field: `bucket.${name}`,
      });
    }
  }
  return { tenantId: bucket.tenantId, clientId: bucket.clientId ?? '', key: bucket.key ?? '' };
}

/**
 * `rl:<tenant>[:client:<client>](:key:<key>|:requests)`. The tenant always leads, so buckets of
 * different tenants never collide, and a custom key can never name a client's request bucket.
 */
export function bucketKey(bucket: BucketKey | undefined): string {
  const { tenantId, clientId, key } = validated(bucket);
  return `rl:${tenantId}${clientId ? `:client:${clientId}` : ''}${key ? `:key:${key}` : ':requests'}`;
}

/**
 * Takes tokens from the shared store (Redis: one Lua call, so every replica sees one bucket).
 * When the store is down, the fail mode decides (see KvOutage): `closed` refuses with
 * ERR_STORE_UNAVAILABLE (the gateway answers 503), `open` takes from a bucket in this process —
 * a per-replica limit, looser than the global one but never none.
 */
export class FailoverBuckets {
  private readonly local: KeyValueStore = createMemoryKeyValue();

  constructor(
    private readonly shared: KeyValueStore,
    private readonly outage: KvOutage,
  ) {}

  async take(key: string, limit: TokenBucket, cost: number): Promise<BucketResult> {
    let result: BucketResult;
    try {
      result = await this.shared.takeTokens(key, limit, cost);
    } catch (err) {
      if (!this.outage.isOutage(err, 'rate_limit')) throw err;
      if (this.outage.failMode === 'closed') {
        throw new ApiError('ERR_STORE_UNAVAILABLE', 'rate limit store unavailable', { cause: err });
      }
      return this.local.takeTokens(key, limit, cost);
    }
    this.outage.succeeded();
    return result;
  }

  reset(key: string): Promise<unknown> {
    // A reset during an outage cannot reach the shared bucket; saying so beats pretending.
    return Promise.all([this.shared.delete(key), this.local.delete(key)]);
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

export interface RateLimitDeps {
  buckets: FailoverBuckets;
  defaultLimit: TokenBucket;
}

/** CheckRateLimit's answer; AuthService.Check takes the request token through it too. */
export async function checkRateLimit(
  deps: RateLimitDeps,
  request: CheckRateLimitRequest,
): Promise<CheckRateLimitResponse> {
  const key = bucketKey(request.bucket);
  const limit = request.limit
    ? { capacity: request.limit.capacity, refillPerSecond: request.limit.refillPerSecond }
    : deps.defaultLimit;
  if (!(limit.capacity >= 1) || !(limit.refillPerSecond > 0) || !Number.isFinite(limit.refillPerSecond)) {
    throw new ApiError('ERR_VALIDATION_FAILED', 'limit needs capacity >= 1 and refill_per_second > 0', {
      field: 'limit',
    });
  }
  const cost = Math.max(1, request.cost);
  const result = await deps.buckets.take(key, limit, cost);
  if (!result.allowed) rateLimitRejections.inc();
  return {
    allowed: result.allowed,
    limit: limit.capacity,
    remaining: result.remaining,
    resetAfterMs: Math.ceil(result.resetMs),
    retryAfterMs: Math.ceil(result.retryAfterMs),
  };
}

export function rateLimitService(deps: RateLimitDeps & { logger: Logger }): RateLimitServiceServer {
  return {
    checkRateLimit: unary(deps.logger, 'CheckRateLimit', (request) => checkRateLimit(deps, request)),

    resetRateLimit: unary(deps.logger, 'ResetRateLimit', async (request) => {
      await deps.buckets.reset(bucketKey(request.bucket));
      return {};
    }),
  };
}
