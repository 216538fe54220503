import { ApiError, type DocumentStore, newId, parseInput, readJsonBody } from '@cpod/runtime';
import { Hono } from 'hono';
import { z } from 'zod';
import { TENANT_ID } from '../apps/app-routes.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './password.js';
import { normaliseEmail, publicUser, type UserRecord, userRepository } from './user-repository.js';

const ROLE = /^[a-z][a-z0-9_:-]{0,62}$/;
const tenantId = z.string().regex(TENANT_ID, 'must be 1-63 letters, digits, "-" or "_"');

const createUserSchema = z.strictObject({
  tenant_id: tenantId,
  email: z
    .string()
    .trim()
    .max(254)
    .pipe(z.email('must be an email address'))
    .transform((e) => normaliseEmail(e)),
  // The upper bound only keeps a request from making argon2 hash megabytes.
  password: z
    .string()
    .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
    .max(1024),
  roles: z
    .array(z.string().regex(ROLE, 'roles are lower-case identifiers'))
    .max(50)
    .transform((r) => [...new Set(r)])
    .default([]),
});

const listQuerySchema = z.strictObject({
  tenant_id: tenantId,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.string().max(100).optional(),
});

/** Admin API for a tenant's end users; answers never carry the password hash. */
export function userRoutes(store: DocumentStore, maxBodyBytes: number): Hono {
  const users = userRepository(store);
  const router = new Hono();

  router.post('/', async (c) => {
    const input = parseInput(createUserSchema, await readJsonBody(c.req.raw, maxBodyBytes));
    const now = new Date().toISOString();
    const user: UserRecord = {
      id: newId('usr'),
      tenant_id: input.tenant_id,
      email: input.email,
      password_hash: await hashPassword(input.password),
      roles: input.roles,
      created_at: now,
      updated_at: now,
    };
    try {
      await users.create(user);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_STORE_CONFLICT') {
        throw new ApiError('ERR_RESOURCE_CONFLICT', 'a user with this email already exists in the tenant', {
          field: 'email',
        });
      }
      throw err;
    }
    return c.json(publicUser(user), 201);
  });

  router.get('/', async (c) => {
    const query = parseInput(listQuerySchema, c.req.query());
    const page = await users.list(query.tenant_id, { limit: query.limit + 1, after: query.after });
    const items = page.slice(0, query.limit);
    const next = page.length > query.limit ? items.at(-1)?.id : undefined;
    return c.json({ users: items.map(publicUser), next_cursor: next ?? null });
  });

  return router;
}
