import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '@cpod/runtime';
import type { MiddlewareHandler } from 'hono';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Requires `Authorization: Bearer <CPOD_ADMIN_TOKEN>` — or, for a route that names one,
 * a narrower token such as CPOD_REVOCATION_FEED_TOKEN — compared in constant time.
 */
export function requireAdmin(adminToken: string, options: { alsoAccept?: string } = {}): MiddlewareHandler {
  const accepted = [adminToken, options.alsoAccept].filter((t): t is string => !!t).map(digest);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const presented = match?.[1] ? digest(match[1]) : undefined;
    if (!presented || !accepted.some((expected) => timingSafeEqual(presented, expected))) {
      throw new ApiError('ERR_AUTH_ADMIN_REQUIRED', 'a valid admin bearer token is required', {
        headers: { 'www-authenticate': 'Bearer realm="cpod-admin"' },
      });
    }
    await next();
  };
}
