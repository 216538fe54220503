import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '@cpod/runtime';
import type { MiddlewareHandler } from 'hono';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Requires `Authorization: Bearer <CPOD_ADMIN_TOKEN>`, compared in constant time. */
export function requireAdmin(adminToken: string): MiddlewareHandler {
  const expected = digest(adminToken);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
      throw new ApiError('ERR_AUTH_ADMIN_REQUIRED', 'a valid admin bearer token is required', {
        headers: { 'www-authenticate': 'Bearer realm="cpod-admin"' },
      });
    }
    await next();
  };
}
