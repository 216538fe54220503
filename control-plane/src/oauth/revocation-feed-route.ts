import { type DocumentStore, newId, parseInput } from '@cpod/runtime';
import { Hono } from 'hono';
import { z } from 'zod';
import { PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { revocationFeedCollection } from './revocations.js';

const querySchema = z.strictObject({
  /** Milliseconds since the epoch: entries recorded at or after it (a poller's look-back). */
  since: z.coerce.number().int().min(0).optional(),
  /** The last id of the previous page. */
  after: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

/**
 * Admin API `GET /v1/revocations`: access tokens revoked since a point in time, oldest first,
 * for gateways to hand to their sidecars. `server_time` is the control plane's clock when the
 * page was read; a poller asks for `since` a few seconds before it, so an entry whose write
 * committed after a later one (concurrent revocations) is still seen.
 */
export function revocationFeedRoutes(store: DocumentStore, clock: () => number): Hono {
  const feed = revocationFeedCollection(store);
  const router = new Hono();
  router.get('/', async (c) => {
    const query = parseInput(querySchema, c.req.query());
    const serverTime = clock();
    // An id made from `since` with its random part cut off sorts before every id of that millisecond.
    const fromSince = query.since === undefined ? undefined : newId('rvf', query.since).slice(0, 14);
    const after = [fromSince, query.after]
      .filter((v) => v !== undefined)
      .sort()
      .at(-1);
    const page = await feed.list(PLATFORM_NAMESPACE, { limit: query.limit + 1, after });
    const items = page.slice(0, query.limit);
    const next = page.length > query.limit ? items.at(-1)?.id : undefined;
    return c.json({
      revocations: items.map((e) => ({
        id: e.id,
        jti: e.jti,
        tenant_id: e.tenant_id,
        expires_at: e.expires_at,
      })),
      next_cursor: next ?? null,
      server_time: serverTime,
    });
  });
  return router;
}
