import type { BucketResult, TokenBucket } from './ports.js';

/**
 * Argument checks and token-bucket arithmetic shared by the key/value adapters. The Redis Lua
 * script in redis-kv.ts is a transcription of `refillAndTake`; keep the two in step.
 */

export function ttlToMs(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('ttlMs must be a positive number');
  // Redis takes whole milliseconds; rounding up never expires a key early.
  return Math.ceil(ttlMs);
}

export function assertIncrement(by: number): void {
  if (!Number.isSafeInteger(by)) throw new TypeError('increment must be a safe integer');
}

export function assertBucket(bucket: TokenBucket, cost: number): void {
  if (!Number.isFinite(bucket.capacity) || bucket.capacity <= 0) {
    throw new TypeError('bucket capacity must be positive');
  }
  if (!Number.isFinite(bucket.refillPerSecond) || bucket.refillPerSecond <= 0) {
    throw new TypeError('bucket refillPerSecond must be positive');
  }
  if (!Number.isFinite(cost) || cost <= 0) throw new TypeError('token cost must be positive');
}

export interface BucketState {
  /** Fractional tokens in the bucket at `at`. */
  tokens: number;
  /** Milliseconds since the epoch of the last take. */
  at: number;
}

/**
 * Refills for the time elapsed since the last take, then takes `cost` if that many tokens are
 * there. A missing bucket is a full one, which is why the stored state may expire once it would
 * have refilled completely. A cost above the capacity is always denied.
 */
export function refillAndTake(
  state: BucketState | undefined,
  bucket: TokenBucket,
  cost: number,
  now: number,
): { state: BucketState; result: BucketResult } {
  const ratePerMs = bucket.refillPerSecond / 1000;
  const elapsed = state ? Math.max(0, now - state.at) : 0;
  let tokens = state ? Math.min(bucket.capacity, state.tokens + elapsed * ratePerMs) : bucket.capacity;
  const allowed = tokens >= cost;
  if (allowed) tokens -= cost;
  return {
    state: { tokens, at: now },
    result: {
      allowed,
      remaining: Math.floor(tokens),
      retryAfterMs: allowed ? 0 : Math.ceil((cost - tokens) / ratePerMs),
      resetMs: Math.ceil((bucket.capacity - tokens) / ratePerMs),
    },
  };
}
