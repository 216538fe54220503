import type { CheckRateLimitRequest, CheckRateLimitResponse } from '@cpod/proto';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets held in this process, for the rate limit while the sidecar cannot be asked
 * (CORESDK_FAIL_MODE=open). Each replica limits on its own, so the effective limit is
 * per replica rather than global: looser, but never unlimited. The map is bounded; the least
 * recently used bucket goes first, and a forgotten bucket comes back full, which only errs
 * in the caller's favour for a client this process has not seen for a while.
 */
export class LocalBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly defaultLimit: { capacity: number; refillPerSecond: number },
    private readonly maxBuckets = 10_000,
  ) {}

  take(request: CheckRateLimitRequest, now = Date.now()): CheckRateLimitResponse {
    const { capacity, refillPerSecond } = request.limit ?? this.defaultLimit;
    const cost = Math.max(1, request.cost);
    const b = request.bucket;
    const key = `${b?.tenantId ?? ''}\u0000${b?.clientId ?? ''}\u0000${b?.key ?? ''}`;
    const ratePerMs = refillPerSecond / 1000;
    const previous = this.buckets.get(key);
    let tokens = previous
      ? Math.min(capacity, previous.tokens + Math.max(0, now - previous.at) * ratePerMs)
      : capacity;
    const allowed = tokens >= cost;
    if (allowed) tokens -= cost;
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    if (this.buckets.size > this.maxBuckets) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return {
      allowed,
      limit: capacity,
      remaining: Math.floor(tokens),
      resetAfterMs: Math.ceil((capacity - tokens) / ratePerMs),
      retryAfterMs: allowed ? 0 : Math.ceil((cost - tokens) / ratePerMs),
    };
  }

  reset(request: { bucket?: CheckRateLimitRequest['bucket'] }): void {
    const b = request.bucket;
    this.buckets.delete(`${b?.tenantId ?? ''}\u0000${b?.clientId ?? ''}\u0000${b?.key ?? ''}`);
  }
}
