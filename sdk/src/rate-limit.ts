import type { HttpClient } from './http.js';

/** The answer of `POST /v1/rate-limits/check` for one call against a custom key. */
export interface RateLimitDecision {
  /** Whether this call is within the limit; a refused call is not an error. */
  allowed: boolean;
  /** The limit that applied (calls per window). */
  limit: number;
  /** Whole calls left right now. */
  remaining: number;
  /** When the bucket is full again. */
  resetAt: Date;
  /** When refused, seconds until a call could be allowed; 0 otherwise. */
  retryAfterSeconds: number;
}

type Wire = Omit<RateLimitDecision, 'resetAt'> & { resetAt: string };

/** `POST /v1/rate-limits/check`; needs scope `rate_limits:write`. */
export async function checkRateLimit(
  http: HttpClient,
  key: string,
  limit: number,
  windowSeconds: number,
): Promise<RateLimitDecision> {
  const wire = await http.request<Wire>('POST', '/v1/rate-limits/check', {
    body: { key, limit, windowSeconds },
  });
  return { ...wire, resetAt: new Date(wire.resetAt) };
}
