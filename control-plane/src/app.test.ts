import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type DocumentStore, openPgliteDocuments } from '@cpod/runtime';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlaneApp } from './app.js';
import { loadSigningKeys, type SigningKeys } from './signing-keys.js';

const ADMIN = 'admin-token-for-tests-0123456789abcdef';
const ISSUER = 'http://cp.test';
let dir: string;
let store: DocumentStore;
let keys: SigningKeys;
let app: ReturnType<typeof createControlPlaneApp>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cpod-cp-'));
  store = await openPgliteDocuments();
  keys = await loadSigningKeys(join(dir, 'keys/signing-key.json'), { tokenTtlSeconds: 3600 });
  app = createControlPlaneApp({
    store,
    keys,
    logger: createLogger({ level: 'silent' }),
    adminToken: ADMIN,
    issuer: ISSUER,
    audience: 'cpod-api',
    accessTokenTtlSeconds: 900,
  });
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const admin = (path: string, init: RequestInit = {}) =>
  app.request(path, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers },
  });

async function newApp(body: Record<string, unknown> = {}) {
  const res = await admin('/v1/oauth/apps', {
    method: 'POST',
    body: JSON.stringify({
      name: 'svc',
      tenant_id: 'acme',
      scopes: ['people:read', 'people:write'],
      ...body,
    }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { client_id: string; client_secret: string };
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function token(id: string, secret: string, params: Record<string, string> = {}) {
  return app.request('/v1/oauth/token', {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString(),
  });
}

describe('admin API', () => {
  it('refuses requests without the admin token', async () => {
    const res = await app.request('/v1/oauth/apps');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const wrong = await app.request('/v1/oauth/apps', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('shows the secret once, stores only an argon2id hash, never lists it', async () => {
    const created = await newApp();
    expect(created.client_secret).toMatch(/^cps_/);
    const stored = await store.collection('apps').get('_platform', created.client_id);
    expect(String(stored?.secret_hash)).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(stored)).not.toContain(created.client_secret);
    const list = await (await admin('/v1/oauth/apps')).text();
    expect(list).toContain(created.client_id);
    expect(list).not.toContain('secret');
    const one = await (await admin(`/v1/oauth/apps/${created.client_id}`)).json();
    expect(one).not.toHaveProperty('client_secret');
    expect(one).not.toHaveProperty('secret_hash');
  });

  it('rejects bad registrations naming the field', async () => {
    const cases: [Record<string, unknown>, string | undefined][] = [
      [{ scopes: ['not a scope'] }, 'scopes.0'],
      [{ tenant_id: '' }, 'tenant_id'],
      [{ extra: 1 }, undefined],
      [{ grant_types: ['password'] }, 'grant_types.0'],
    ];
    for (const [body, field] of cases) {
      const res = await admin('/v1/oauth/apps', {
        method: 'POST',
        body: JSON.stringify({ name: 'x', tenant_id: 'acme', scopes: ['people:read'], ...body }),
      });
      expect(res.status).toBe(400);
      const problem = (await res.json()) as { code: string; field?: string; detail: string };
      expect(problem.code).toBe('ERR_VALIDATION_FAILED');
      if (field) expect(problem.field).toBe(field);
      else expect(problem.detail).toContain('extra');
    }
    const malformed = await admin('/v1/oauth/apps', { method: 'POST', body: '{"name":' });
    expect(malformed.status).toBe(400);
  });

  it('deletes apps and rotates secrets (old secret stops working)', async () => {
    const created = await newApp();
    const rotated = await admin(`/v1/oauth/apps/${created.client_id}/rotate-secret`, { method: 'POST' });
    const { client_secret } = (await rotated.json()) as { client_secret: string };
    expect((await token(created.client_id, created.client_secret)).status).toBe(401);
    expect((await token(created.client_id, client_secret)).status).toBe(200);
    expect((await admin(`/v1/oauth/apps/${created.client_id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await admin(`/v1/oauth/apps/${created.client_id}`)).status).toBe(404);
    expect((await token(created.client_id, client_secret)).status).toBe(401);
  });
});

describe('POST /v1/oauth/token', () => {
  it('issues RFC 9068 access tokens verifiable with the JWKS', async () => {
    const created = await newApp({ rate_limit: { capacity: 5, refill_per_second: 1 } });
    const res = await token(created.client_id, created.client_secret);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as {
      access_token: string;
      token_type: string;
      expires_in: number;
      scope: string;
    };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(900);
    expect(body.scope).toBe('people:read people:write');
    const header = decodeProtectedHeader(body.access_token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt', kid: keys.current.kid });
    const jwks = (await (await app.request('/.well-known/jwks.json')).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(await (await app.request('/api/v1/jwks')).json()).toEqual(jwks);
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(jwks as never), {
      issuer: ISSUER,
      audience: 'cpod-api',
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({
      sub: created.client_id,
      client_id: created.client_id,
      tenant_id: 'acme',
      scope: 'people:read people:write',
    });
    expect(payload.rate_limit).toEqual({ capacity: 5, refill_per_second: 1 });
    expect(typeof payload.jti).toBe('string');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(900);
  });

  it('narrows scope on request and refuses widening', async () => {
    const created = await newApp();
    const narrow = await token(created.client_id, created.client_secret, { scope: 'people:read' });
    expect(((await narrow.json()) as { scope: string }).scope).toBe('people:read');
    const wide = await token(created.client_id, created.client_secret, { scope: 'people:read audit:read' });
    expect(wide.status).toBe(400);
    expect(((await wide.json()) as { error: string }).error).toBe('invalid_scope');
  });

  it('accepts client_secret_post and JSON bodies', async () => {
    const { client_id, client_secret } = await newApp();
    const created = { client_id, client_secret };
    const post = await app.request('/v1/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...created }).toString(),
    });
    expect(post.status).toBe(200);
    const json = await app.request('/v1/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', ...created }),
    });
    expect(json.status).toBe(200);
  });

  it('answers RFC 6749 errors', async () => {
    const created = await newApp();
    const bad = await token(created.client_id, 'wrong');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({
      error: 'invalid_client',
      error_description: 'client authentication failed',
    });
    expect(bad.headers.get('www-authenticate')).toContain('Basic');
    const unknown = await token('app_unknown', 'x');
    expect(unknown.status).toBe(401);
    const grant = await token(created.client_id, created.client_secret, { grant_type: 'password' });
    expect(((await grant.json()) as { error: string }).error).toBe('unsupported_grant_type');
    const none = await app.request('/v1/oauth/token', {
      method: 'POST',
      body: 'grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(none.status).toBe(401);
  });
});

describe('keys and metadata', () => {
  it('persists the signing key with mode 0600 and reuses it', async () => {
    const path = join(dir, 'keys/signing-key.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await loadSigningKeys(path, { tokenTtlSeconds: 3600 });
    expect(again.current.kid).toBe(keys.current.kid);
  });

  it('serves RFC 8414 metadata', async () => {
    const meta = (await (await app.request('/.well-known/oauth-authorization-server')).json()) as Record<
      string,
      unknown
    >;
    expect(meta.issuer).toBe(ISSUER);
    expect(meta.token_endpoint).toBe(`${ISSUER}/v1/oauth/token`);
    expect(meta.grant_types_supported).toEqual(['client_credentials', 'authorization_code', 'refresh_token']);
    expect(meta).toMatchObject({
      authorization_endpoint: `${ISSUER}/v1/oauth/authorize`,
      introspection_endpoint: `${ISSUER}/v1/oauth/introspect`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(meta.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']),
    );
  });

  it('access token lifetime cannot be configured above one hour', () => {
    const make = (ttl: number) => () =>
      createControlPlaneApp({
        store,
        keys,
        logger: createLogger({ level: 'silent' }),
        adminToken: ADMIN,
        issuer: ISSUER,
        audience: 'cpod-api',
        accessTokenTtlSeconds: ttl,
      });
    expect(make(3601)).toThrow(/accessTokenTtlSeconds/);
    expect(make(3600)).not.toThrow();
  });
});

describe('app registration: client types, grants and redirect URIs', () => {
  const register = (body: Record<string, unknown>) =>
    admin('/v1/oauth/apps', {
      method: 'POST',
      body: JSON.stringify({ name: 'x', tenant_id: 'acme', scopes: ['people:read'], ...body }),
    });

  it('public client: no client_secret in the 201 response and no secret stored', async () => {
    const res = await register({
      client_type: 'public',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://spa.example.com/cb'],
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('client_secret');
    expect(body.client_type).toBe('public');
    const stored = await store.collection('apps').get('_platform', String(body.client_id));
    expect(stored?.secret_hash).toBeNull();
    const rotate = await admin(`/v1/oauth/apps/${body.client_id}/rotate-secret`, { method: 'POST' });
    expect(rotate.status).toBe(409);
  });

  it('a public client defaults to authorization_code + refresh_token and may never use client_credentials', async () => {
    const defaulted = await register({
      client_type: 'public',
      redirect_uris: ['https://spa.example.com/cb'],
    });
    expect(((await defaulted.json()) as { grant_types: string[] }).grant_types).toEqual([
      'authorization_code',
      'refresh_token',
    ]);
    const res = await register({ client_type: 'public', grant_types: ['client_credentials'] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { field: string }).field).toBe('grant_types');
  });

  it('confidential is the default client_type, and stored records without one are confidential', async () => {
    const created = await newApp();
    const one = (await (await admin(`/v1/oauth/apps/${created.client_id}`)).json()) as Record<
      string,
      unknown
    >;
    expect(one.client_type).toBe('confidential');
    // A record written before client types existed.
    const legacy = await store.collection('apps').get('_platform', created.client_id);
    const { client_type: _dropped, ...withoutType } = legacy as Record<string, unknown>;
    await store.collection('apps').delete('_platform', created.client_id);
    await store.collection('apps').insert('_platform', withoutType as { id: string });
    const again = (await (await admin(`/v1/oauth/apps/${created.client_id}`)).json()) as Record<
      string,
      unknown
    >;
    expect(again.client_type).toBe('confidential');
    expect((await token(created.client_id, created.client_secret)).status).toBe(200);
  });

  it('redirect_uris are required for authorization_code and must be https (http only on loopback), no fragment', async () => {
    const missing = await register({ grant_types: ['authorization_code'] });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { field: string }).field).toBe('redirect_uris');
    const cases: [string, number][] = [
      ['https://app.example.com/cb', 201],
      ['http://127.0.0.1:9000/cb', 201],
      ['http://[::1]/cb', 201],
      ['http://localhost:3000/cb', 201],
      ['http://app.example.com/cb', 400],
      ['https://app.example.com/cb#x', 400],
      ['/relative', 400],
      ['ftp://app.example.com/cb', 400],
    ];
    for (const [uri, status] of cases) {
      const res = await register({ grant_types: ['authorization_code'], redirect_uris: [uri] });
      expect(res.status, uri).toBe(status);
      if (status === 400) expect(((await res.json()) as { field: string }).field).toBe('redirect_uris.0');
    }
  });

  it('refresh_token is only accepted together with authorization_code', async () => {
    const res = await register({ grant_types: ['client_credentials', 'refresh_token'] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { field: string }).field).toBe('grant_types');
  });
});

describe('users API', () => {
  const createUser = (body: Record<string, unknown>, auth = true) =>
    (auth ? admin : (p: string, i: RequestInit) => app.request(p, i))('/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('requires the admin token', async () => {
    const res = await createUser(
      { tenant_id: 'acme', email: 'a@example.com', password: 'x'.repeat(12) },
      false,
    );
    expect(res.status).toBe(401);
    expect((await app.request('/v1/users?tenant_id=acme')).status).toBe(401);
  });

  it('creates a user: 201 without the hash; argon2id stored; email lower-cased', async () => {
    const res = await createUser({
      tenant_id: 'acme',
      email: 'Alice.Users@Example.com',
      password: 'correct horse battery',
      roles: ['admin', 'viewer'],
    });
    expect(res.status).toBe(201);
    const user = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(user).sort()).toEqual(['created_at', 'email', 'id', 'roles', 'tenant_id']);
    expect(user).toMatchObject({
      tenant_id: 'acme',
      email: 'alice.users@example.com',
      roles: ['admin', 'viewer'],
    });
    const stored = await store.collection('users').get('acme', String(user.id));
    expect(String(stored?.password_hash)).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(stored)).not.toContain('correct horse battery');
  });

  it('email is unique per tenant whatever its case (409), and may repeat in another tenant', async () => {
    const body = { tenant_id: 'acme', email: 'bob.unique@example.com', password: 'p'.repeat(12) };
    expect((await createUser(body)).status).toBe(201);
    const again = await createUser({ ...body, email: 'BOB.unique@example.com' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('ERR_RESOURCE_CONFLICT');
    expect((await createUser({ ...body, tenant_id: 'globex' })).status).toBe(201);
  });

  it('concurrent registrations of one email create exactly one user', async () => {
    const body = { tenant_id: 'acme', email: 'race@example.com', password: 'p'.repeat(12) };
    const statuses = (await Promise.all([createUser(body), createUser(body), createUser(body)])).map(
      (r) => r.status,
    );
    expect(statuses.sort()).toEqual([201, 409, 409]);
  });

  it('refuses passwords shorter than 12 characters and malformed emails', async () => {
    const short = await createUser({ tenant_id: 'acme', email: 'c@example.com', password: 'elevenchars' });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { field: string }).field).toBe('password');
    const email = await createUser({ tenant_id: 'acme', email: 'not-an-email', password: 'p'.repeat(12) });
    expect(((await email.json()) as { field: string }).field).toBe('email');
  });

  it('lists a tenant’s users without hashes, paginated, and only that tenant’s', async () => {
    for (const name of ['l1', 'l2', 'l3']) {
      await createUser({ tenant_id: 'listco', email: `${name}@example.com`, password: 'p'.repeat(12) });
    }
    await createUser({ tenant_id: 'otherco', email: 'l4@example.com', password: 'p'.repeat(12) });
    const first = (await (await admin('/v1/users?tenant_id=listco&limit=2')).json()) as {
      users: Array<Record<string, unknown>>;
      next_cursor: string | null;
    };
    expect(first.users).toHaveLength(2);
    expect(JSON.stringify(first)).not.toContain('argon2');
    expect(JSON.stringify(first)).not.toContain('password');
    const second = (await (
      await admin(`/v1/users?tenant_id=listco&limit=2&after=${first.next_cursor}`)
    ).json()) as { users: Array<{ email: string }>; next_cursor: string | null };
    expect(second.users.map((u) => u.email)).toEqual(['l3@example.com']);
    expect(second.next_cursor).toBeNull();
    expect((await admin('/v1/users')).status).toBe(400);
  });
});
