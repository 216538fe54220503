import { type DocumentStore, type FieldValue, parseInput } from '@cpod/runtime';
import { Hono } from 'hono';
import { z } from 'zod';
import { PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { TENANT_ID } from '../apps/app-routes.js';
import { TOKEN_EVENT_TYPES, tokenEventCollection } from './token-events.js';

const listQuerySchema = z.strictObject({
  // `_platform` holds the events no tenant could be attributed to (unknown client ids).
  tenant_id: z.union([z.literal(PLATFORM_NAMESPACE), z.string().regex(TENANT_ID, 'not a tenant id')]),
  type: z.enum(TOKEN_EVENT_TYPES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.string().max(100).optional(),
});

/** Admin API: a tenant's token events, newest first; `after` is the last id of the previous page. */
export function tokenEventRoutes(store: DocumentStore): Hono {
  const events = tokenEventCollection(store);
  const router = new Hono();
  router.get('/', async (c) => {
    const query = parseInput(listQuerySchema, c.req.query());
    const where: Record<string, FieldValue> = query.type ? { type: query.type } : {};
    const page = await events.list(query.tenant_id, {
      limit: query.limit + 1,
      after: query.after,
      order: 'desc',
      where,
    });
    const items = page.slice(0, query.limit);
    const next = page.length > query.limit ? items.at(-1)?.id : undefined;
    return c.json({ events: items, next_cursor: next ?? null });
  });
  return router;
}
