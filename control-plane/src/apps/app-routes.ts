import { ApiError, type DocumentStore, newId, parseInput, readJsonBody, readTextBody } from '@cpod/runtime';
import { Hono } from 'hono';
import { z } from 'zod';
import {
  type AppRecord,
  appCollection,
  clientType,
  PLATFORM_NAMESPACE,
  publicApp,
} from './app-repository.js';
import { hashClientSecret, newClientSecret } from './client-secret.js';
import { redirectUriProblem } from './redirect-uri.js';

const SCOPE = /^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$/;
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const GRANT_TYPES = ['client_credentials', 'authorization_code', 'refresh_token'] as const;

const redirectUri = z
  .string()
  .max(2000)
  .superRefine((uri, ctx) => {
    const problem = redirectUriProblem(uri);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const createAppSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    tenant_id: z.string().regex(TENANT_ID, 'must be 1-63 letters, digits, "-" or "_"'),
    client_type: z.enum(['confidential', 'public']).default('confidential'),
    scopes: z
      .array(z.string().regex(SCOPE, 'scopes look like "resource:action"'))
      .min(1)
      .max(50)
      .transform((s) => [...new Set(s)]),
    grant_types: z
      .array(z.enum(GRANT_TYPES))
      .min(1)
      .transform((g) => [...new Set(g)])
      .optional(),
    redirect_uris: z
      .array(redirectUri)
      .max(20)
      .transform((u) => [...new Set(u)])
      .default([]),
    rate_limit: z
      .strictObject({
        capacity: z.number().int().min(1).max(1_000_000),
        refill_per_second: z.number().positive().max(1_000_000),
      })
      .optional(),
  })
  // A public client cannot keep a secret, so the grants that need none are its default.
  .transform((input) => ({
    ...input,
    grant_types:
      input.grant_types ??
      (input.client_type === 'public' ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
  }))
  .superRefine((input, ctx) => {
    const grants = input.grant_types;
    if (input.client_type === 'public' && grants.includes('client_credentials')) {
      // client_credentials authenticates the client itself; without a secret anyone could.
      ctx.addIssue({
        code: 'custom',
        path: ['grant_types'],
        message: 'a public client cannot use client_credentials',
      });
    }
    if (grants.includes('refresh_token') && !grants.includes('authorization_code')) {
      ctx.addIssue({
        code: 'custom',
        path: ['grant_types'],
        message: 'refresh_token is only issued with authorization_code',
      });
    }
    if (grants.includes('authorization_code') && input.redirect_uris.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['redirect_uris'],
        message: 'at least one redirect URI is required for authorization_code',
      });
    }
  });

/** Longest time a rotated-out secret may keep working: enough to roll a deployment, no more. */
export const MAX_SECRET_GRACE_SECONDS = 24 * 3600;

const rotateSecretSchema = z.strictObject({
  grace_period_seconds: z.number().int().min(0).max(MAX_SECRET_GRACE_SECONDS).default(0),
});

const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.string().max(100).optional(),
});

export function appRoutes(store: DocumentStore, maxBodyBytes: number): Hono {
  const apps = appCollection(store);
  const router = new Hono();

  router.post('/', async (c) => {
    const input = parseInput(createAppSchema, await readJsonBody(c.req.raw, maxBodyBytes));
    const secret = input.client_type === 'confidential' ? newClientSecret() : undefined;
    const now = new Date().toISOString();
    const app: AppRecord = {
      id: newId('app'),
      name: input.name,
      tenant_id: input.tenant_id,
      client_type: input.client_type,
      scopes: input.scopes,
      grant_types: input.grant_types,
      redirect_uris: input.redirect_uris,
      rate_limit: input.rate_limit ?? null,
      secret_hash: secret === undefined ? null : await hashClientSecret(secret),
      created_at: now,
      updated_at: now,
    };
    await apps.insert(PLATFORM_NAMESPACE, app);
    c.header('cache-control', 'no-store');
    return c.json(secret === undefined ? publicApp(app) : { ...publicApp(app), client_secret: secret }, 201);
  });

  router.get('/', async (c) => {
    const query = parseInput(listQuerySchema, c.req.query());
    const page = await apps.list(PLATFORM_NAMESPACE, { limit: query.limit + 1, after: query.after });
    const items = page.slice(0, query.limit);
    const next = page.length > query.limit ? items.at(-1)?.id : undefined;
    return c.json({ apps: items.map(publicApp), next_cursor: next ?? null });
  });

  router.get('/:id', async (c) => {
    const app = await apps.get(PLATFORM_NAMESPACE, c.req.param('id'));
    if (!app) throw notFound();
    return c.json(publicApp(app));
  });

  router.delete('/:id', async (c) => {
    if (!(await apps.delete(PLATFORM_NAMESPACE, c.req.param('id')))) throw notFound();
    return c.body(null, 204);
  });

  router.post('/:id/rotate-secret', async (c) => {
    const existing = await apps.get(PLATFORM_NAMESPACE, c.req.param('id'));
    if (!existing) throw notFound();
    if (clientType(existing) === 'public') {
      throw new ApiError('ERR_RESOURCE_CONFLICT', 'a public client has no secret to rotate');
    }
    // The body is optional: no body means the old secret stops working at once.
    const body = await optionalJsonBody(c.req.raw, maxBodyBytes);
    const { grace_period_seconds: grace } = parseInput(rotateSecretSchema, body);
    const secret = newClientSecret();
    const now = Date.now();
    // Only the secret being replaced gets the grace period; one still in grace from an
    // earlier rotation ends now, so at most two secrets are ever valid.
    const graceUntil = grace > 0 ? new Date(now + grace * 1000).toISOString() : null;
    const updated = await apps.update(PLATFORM_NAMESPACE, c.req.param('id'), {
      secret_hash: await hashClientSecret(secret),
      previous_secret_hash: graceUntil ? existing.secret_hash : null,
      previous_secret_expires_at: graceUntil,
      updated_at: new Date(now).toISOString(),
    });
    if (!updated) throw notFound();
    c.header('cache-control', 'no-store');
    return c.json({
      client_id: updated.id,
      client_secret: secret,
      previous_secret_expires_at: graceUntil,
    });
  });

  return router;
}

async function optionalJsonBody(request: Request, maxBodyBytes: number): Promise<unknown> {
  const text = await readTextBody(request, maxBodyBytes);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('ERR_REQUEST_MALFORMED', 'request body is not valid JSON');
  }
}

function notFound(): ApiError {
  return new ApiError('ERR_RESOURCE_NOT_FOUND', 'no app with this client_id');
}
