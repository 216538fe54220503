import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type DocumentStore, openDocumentStore } from '@cpod/runtime';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlaneApp } from '../app.js';
import { loadSigningKeys, type SigningKeys } from '../signing-keys.js';

const ADMIN = 'admin-token-for-oauth-tests-0123456789';
const FEED = 'feed-token-for-tests-0123456789abcdef0123';
const ISSUER = 'http://cp.test';
const AUDIENCE = 'cpod-api';
const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://app.example.com/callback';

let dir: string;
let store: DocumentStore;
let keys: SigningKeys;
let app: ReturnType<typeof createControlPlaneApp>;
/** Added to the wall clock by the app under test, to step past expiry without waiting. */
let skewMs = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cpod-oauth-'));
  store = await openDocumentStore({ dataDir: dir });
  keys = await loadSigningKeys(join(dir, 'keys/signing-key.json'), { tokenTtlSeconds: 3600 });
  app = createControlPlaneApp({
    store,
    keys,
    logger: createLogger({ level: 'silent' }),
    adminToken: ADMIN,
    revocationFeedToken: FEED,
    issuer: ISSUER,
    audience: AUDIENCE,
    accessTokenTtlSeconds: 3600,
    clock: () => Date.now() + skewMs,
  });
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function withSkew<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  skewMs = ms;
  try {
    return await fn();
  } finally {
    skewMs = 0;
  }
}

// --- helpers ---------------------------------------------------------------------------

interface TestApp {
  client_id: string;
  client_secret?: string;
  tenant_id: string;
  scopes: string[];
}

const admin = (path: string, init: RequestInit = {}) =>
  app.request(path, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers },
  });

let seq = 0;
const unique = (prefix: string) => `${prefix}${++seq}${randomBytes(3).toString('hex')}`;

async function newApp(body: Record<string, unknown> = {}): Promise<TestApp> {
  const res = await admin('/v1/oauth/apps', {
    method: 'POST',
    body: JSON.stringify({
      name: 'web app',
      tenant_id: 'acme',
      scopes: ['people:read', 'people:write'],
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT],
      ...body,
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as TestApp;
}

const newPublicApp = (body: Record<string, unknown> = {}) => newApp({ client_type: 'public', ...body });

async function newUser(tenant = 'acme', roles: string[] = ['editor']) {
  const email = `${unique('user')}@example.com`;
  const res = await admin('/v1/users', {
    method: 'POST',
    body: JSON.stringify({ tenant_id: tenant, email, password: PASSWORD, roles }),
  });
  expect(res.status).toBe(201);
  return { ...((await res.json()) as { id: string; email: string }), password: PASSWORD };
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeQuery(client: TestApp, challenge: string, extra: Record<string, string | undefined> = {}) {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    state: 'st-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
  return query.toString();
}

const unescapeHtml = (s: string) =>
  s
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[unescapeHtml(m[1]!)] = unescapeHtml(m[2]!);
  }
  return fields;
}

function csrfCookie(res: Response): string {
  const header = res.headers.getSetCookie().find((c) => c.startsWith('cpod_csrf='));
  expect(header, 'csrf cookie').toBeDefined();
  return header!.split(';')[0]!.slice('cpod_csrf='.length);
}

async function openLoginForm(
  client: TestApp,
  challenge: string,
  extra: Record<string, string | undefined> = {},
) {
  const res = await app.request(`/v1/oauth/authorize?${authorizeQuery(client, challenge, extra)}`);
  expect(res.status, await res.clone().text()).toBe(200);
  const html = await res.text();
  return { res, html, fields: hiddenFields(html), cookie: csrfCookie(res) };
}

function postLogin(
  form: { fields: Record<string, string>; cookie: string },
  credentials: { email: string; password: string },
  options: { cookie?: string | null; fields?: Record<string, string>; env?: Record<string, string> } = {},
) {
  const cookie = options.cookie === undefined ? form.cookie : options.cookie;
  return app.request(
    '/v1/oauth/authorize',
    {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(cookie === null ? {} : { cookie: `cpod_csrf=${cookie}` }),
      },
      body: new URLSearchParams({ ...form.fields, ...credentials, ...options.fields }).toString(),
    },
    options.env,
  );
}

/** GET authorize → POST login → the code from the redirect. */
async function authorize(
  client: TestApp,
  user: { email: string; password: string },
  extra: Record<string, string | undefined> = {},
) {
  const { verifier, challenge } = pkce();
  const form = await openLoginForm(client, challenge, extra);
  const res = await postLogin(form, user);
  expect(res.status, await res.clone().text()).toBe(302);
  const location = new URL(res.headers.get('location')!);
  return { code: location.searchParams.get('code')!, verifier, location };
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A token-endpoint style request, authenticated the way the client's type requires. */
async function clientPost(
  path: string,
  client: TestApp,
  params: Record<string, string>,
  env?: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const auth: Record<string, string> = client.client_secret
    ? { authorization: basic(client.client_id, client.client_secret) }
    : {};
  const body = client.client_secret ? params : { client_id: client.client_id, ...params };
  return app.request(
    path,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth, ...headers },
      body: new URLSearchParams(body).toString(),
    },
    env,
  );
}

interface TokenBody {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
  error?: string;
  error_description?: string;
}

async function exchange(client: TestApp, code: string, verifier: string, extra: Record<string, string> = {}) {
  const res = await clientPost('/v1/oauth/token', client, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    ...extra,
  });
  return { res, body: (await res.json()) as TokenBody };
}

async function refreshWith(client: TestApp, refreshToken: string, extra: Record<string, string> = {}) {
  const res = await clientPost('/v1/oauth/token', client, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    ...extra,
  });
  return { res, body: (await res.json()) as TokenBody };
}

async function introspect(client: TestApp, token: string, hint?: string) {
  const res = await clientPost('/v1/oauth/introspect', client, {
    token,
    ...(hint ? { token_type_hint: hint } : {}),
  });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

const revoke = (client: TestApp, token: string, hint?: string) =>
  clientPost('/v1/oauth/revoke', client, { token, ...(hint ? { token_type_hint: hint } : {}) });

const tokenId = (value: string) => createHash('sha256').update(value).digest('base64url');

async function verifyAccessToken(token: string) {
  const jwks = (await (await app.request('/.well-known/jwks.json')).json()) as never;
  return (
    await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' })
  ).payload;
}

async function events(tenant: string, type?: string) {
  const res = await admin(`/v1/token-events?tenant_id=${tenant}&limit=200${type ? `&type=${type}` : ''}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
}

async function signedIn(client?: TestApp) {
  const c = client ?? (await newApp());
  const user = await newUser();
  const { code, verifier } = await authorize(c, user);
  const { res, body } = await exchange(c, code, verifier);
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { client: c, user, tokens: body };
}

const expectRedirectError = (res: Response, error: string, state: string | null = 'st-123') => {
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('state')).toBe(state);
  expect(location.searchParams.get('iss')).toBe(ISSUER);
  expect(location.searchParams.has('code')).toBe(false);
  return location;
};

const expectErrorPage = async (res: Response, status = 400) => {
  expect(res.status).toBe(status);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toContain('text/html');
  return res.text();
};

// --- end to end ------------------------------------------------------------------------

describe('authorization code flow, end to end', () => {
  it('register app → create user → GET authorize → POST login with CSRF → code → tokens → refresh → rotate → replay → introspect → revoke', async () => {
    const client = await newApp({ name: 'Acme web' });
    const user = await newUser('acme', ['editor', 'viewer']);
    const { verifier, challenge } = pkce();

    const form = await openLoginForm(client, challenge, { scope: 'people:read' });
    expect(form.html).toContain('Acme web');
    expect(form.html).toContain('name="email"');
    expect(form.html).toContain('name="password"');
    expect(form.html).not.toContain('<script');

    const login = await postLogin(form, user);
    expect(login.status).toBe(302);
    const location = new URL(login.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('st-123');
    expect(location.searchParams.get('iss')).toBe(ISSUER);
    const code = location.searchParams.get('code')!;
    expect(Buffer.from(code, 'base64url').length).toBeGreaterThanOrEqual(32);

    const first = await exchange(client, code, verifier);
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get('cache-control')).toBe('no-store');
    expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'people:read' });
    expect(first.body.refresh_token).toMatch(/^cpr_/);
    const claims = await verifyAccessToken(first.body.access_token);
    expect(claims).toMatchObject({
      sub: user.id,
      client_id: client.client_id,
      tenant_id: 'acme',
      scope: 'people:read',
      roles: ['editor', 'viewer'],
    });

    const second = await refreshWith(client, first.body.refresh_token!);
    expect(second.res.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    const third = await refreshWith(client, second.body.refresh_token!);
    expect(third.res.status).toBe(200);

    expect((await introspect(client, third.body.access_token)).body).toMatchObject({
      active: true,
      sub: user.id,
    });
    expect((await introspect(client, third.body.refresh_token!)).body.active).toBe(true);

    // The first refresh token was rotated away: presenting it again ends the family.
    const replay = await refreshWith(client, first.body.refresh_token!);
    expect(replay.res.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect((await introspect(client, third.body.refresh_token!)).body).toEqual({ active: false });
    expect((await introspect(client, third.body.access_token)).body).toEqual({ active: false });
    expect((await refreshWith(client, third.body.refresh_token!)).body.error).toBe('invalid_grant');

    // A new sign-in, then logout revokes both of its tokens.
    const again = await authorize(client, user);
    const fresh = await exchange(client, again.code, again.verifier);
    expect((await revoke(client, fresh.body.access_token)).status).toBe(200);
    expect((await revoke(client, fresh.body.refresh_token!, 'refresh_token')).status).toBe(200);
    expect((await introspect(client, fresh.body.access_token)).body.active).toBe(false);
    expect((await introspect(client, fresh.body.refresh_token!)).body.active).toBe(false);
  });
});

// --- authorization endpoint ------------------------------------------------------------

describe('GET/POST /v1/oauth/authorize', () => {
  it('login page: CSP, X-Frame-Options DENY, no-store, and an HttpOnly SameSite=Strict CSRF cookie', async () => {
    const client = await newApp();
    const { res } = await openLoginForm(client, pkce().challenge);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example.com; frame-ancestors 'none'",
    );
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('cpod_csrf='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/v1\/oauth\/authorize/);
    expect(cookie).not.toMatch(/Domain=/i);
    // http issuer in this test: the browser would drop a Secure cookie on http.
    expect(cookie).not.toMatch(/Secure/i);
  });

  it('the CSRF cookie is Secure when the issuer is https', async () => {
    const httpsApp = createControlPlaneApp({
      store,
      keys,
      logger: createLogger({ level: 'silent' }),
      adminToken: ADMIN,
      issuer: 'https://cp.example.com',
      audience: AUDIENCE,
      accessTokenTtlSeconds: 3600,
    });
    const client = await newApp();
    const res = await httpsApp.request(`/v1/oauth/authorize?${authorizeQuery(client, pkce().challenge)}`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().find((c) => c.startsWith('cpod_csrf='))).toMatch(/Secure/);
  });

  it('HTML-escapes everything it echoes (app name, state, scope)', async () => {
    const client = await newApp({ name: '<script>alert(1)</script>"&' });
    const state = '"><img src=x onerror=alert(1)>';
    const { html, fields } = await openLoginForm(client, pkce().challenge, { state });
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;');
    expect(fields.state).toBe(state);
  });

  it('an unknown client_id shows an error page and never redirects', async () => {
    const res = await app.request(
      `/v1/oauth/authorize?${authorizeQuery({ client_id: 'app_unknown' } as TestApp, pkce().challenge)}`,
    );
    expect(await expectErrorPage(res)).toContain('not registered');
    const missing = await app.request(`/v1/oauth/authorize?response_type=code&redirect_uri=${REDIRECT}`);
    await expectErrorPage(missing);
  });

  it('redirect_uri must match exactly: a prefix is refused and never redirected', async () => {
    const client = await newApp();
    for (const redirect_uri of [
      'https://app.example.com/callback/evil',
      'https://app.example.com/callbac',
      'https://app.example.com/callback?next=https://evil.example',
      'https://app.example.com/callback/',
      'https://APP.example.com/callback',
      'https://app.example.com.evil.example/callback',
      'https://evil.example/callback',
    ]) {
      const res = await app.request(
        `/v1/oauth/authorize?${authorizeQuery(client, pkce().challenge, { redirect_uri })}`,
      );
      expect(await expectErrorPage(res), redirect_uri).toContain('not registered');
    }
    const none = await app.request(
      `/v1/oauth/authorize?${authorizeQuery(client, pkce().challenge, { redirect_uri: undefined })}`,
    );
    await expectErrorPage(none);
  });

  it('a loopback http://127.0.0.1 redirect URI may differ in port only (RFC 8252)', async () => {
    const client = await newPublicApp({ redirect_uris: ['http://127.0.0.1/native-cb'] });
    const user = await newUser();
    const { challenge, verifier } = pkce();
    const ok = await app.request(
      `/v1/oauth/authorize?${authorizeQuery(client, challenge, { redirect_uri: 'http://127.0.0.1:53127/native-cb' })}`,
    );
    expect(ok.status).toBe(200);
    const form = { fields: hiddenFields(await ok.text()), cookie: csrfCookie(ok) };
    const login = await postLogin(form, user);
    expect(login.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:53127\/native-cb\?code=/);
    const code = new URL(login.headers.get('location')!).searchParams.get('code')!;
    const tokens = await clientPost('/v1/oauth/token', client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'http://127.0.0.1:53127/native-cb',
      code_verifier: verifier,
    });
    expect(tokens.status).toBe(200);
    const otherPath = await app.request(
      `/v1/oauth/authorize?${authorizeQuery(client, challenge, { redirect_uri: 'http://127.0.0.1:53127/other' })}`,
    );
    await expectErrorPage(otherPath);
  });

  it('PKCE S256 is required: a missing challenge, method plain or a missing method redirect with invalid_request', async () => {
    const client = await newApp();
    const { challenge } = pkce();
    for (const extra of [
      { code_challenge: undefined },
      { code_challenge_method: 'plain' },
      { code_challenge_method: undefined },
    ]) {
      const res = await app.request(`/v1/oauth/authorize?${authorizeQuery(client, challenge, extra)}`);
      const location = expectRedirectError(res, 'invalid_request');
      expect(location.searchParams.get('error_description')).toMatch(/code_challenge/);
    }
  });

  it('the code challenge must be 43-128 base64url characters', async () => {
    const client = await newApp();
    for (const challenge of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}+`, `${'a'.repeat(42)}=`]) {
      const res = await app.request(`/v1/oauth/authorize?${authorizeQuery(client, challenge)}`);
      expectRedirectError(res, 'invalid_request');
    }
    const ok = await app.request(`/v1/oauth/authorize?${authorizeQuery(client, 'a'.repeat(128))}`);
    expect(ok.status).toBe(200);
  });

  it('errors after the redirect_uri is validated redirect with error and the unchanged state', async () => {
    const client = await newApp();
    const { challenge } = pkce();
    const state = 'opaque state/with?odd&chars=1';
    const at = (extra: Record<string, string | undefined>) =>
      app.request(`/v1/oauth/authorize?${authorizeQuery(client, challenge, { state, ...extra })}`);
    expectRedirectError(await at({ response_type: 'token' }), 'unsupported_response_type', state);
    expectRedirectError(await at({ response_type: undefined }), 'invalid_request', state);
    expectRedirectError(await at({ scope: 'people:read audit:read' }), 'invalid_scope', state);
    expectRedirectError(await at({ scope: '' }), 'invalid_scope', state);
    const repeated = await app.request(
      `/v1/oauth/authorize?${authorizeQuery(client, challenge, { state })}&scope=people:read&scope=people:write`,
    );
    expectRedirectError(repeated, 'invalid_request', state);
    // Without a state in the request there is none in the answer.
    expectRedirectError(
      await at({ state: undefined, response_type: 'token' }),
      'unsupported_response_type',
      null,
    );
  });

  it('a client not registered for authorization_code is told unauthorized_client', async () => {
    const client = await newApp({ grant_types: ['client_credentials'] });
    const res = await app.request(`/v1/oauth/authorize?${authorizeQuery(client, pkce().challenge)}`);
    expectRedirectError(res, 'unauthorized_client');
  });

  it('requested scope must be a subset of the app scopes; the default is all of them', async () => {
    const client = await newApp();
    const user = await newUser();
    const all = await authorize(client, user);
    expect((await exchange(client, all.code, all.verifier)).body.scope).toBe('people:read people:write');
    const narrow = await authorize(client, user, { scope: 'people:write' });
    expect((await exchange(client, narrow.code, narrow.verifier)).body.scope).toBe('people:write');
  });

  it('CSRF: a missing or foreign cookie, a tampered field or another client’s field is refused with 403', async () => {
    const client = await newApp();
    const other = await newApp();
    const user = await newUser();
    const { challenge } = pkce();
    const form = await openLoginForm(client, challenge);
    const otherForm = await openLoginForm(other, challenge);
    const attempts = [
      postLogin(form, user, { cookie: null }),
      postLogin(form, user, { cookie: otherForm.cookie }),
      postLogin(form, user, { cookie: randomBytes(32).toString('base64url') }),
      postLogin(form, user, { fields: { csrf_token: `${form.fields.csrf_token}x` } }),
      postLogin(form, user, { fields: { csrf_token: '' } }),
      // A genuine pair, but issued for another client.
      postLogin(form, user, {
        cookie: otherForm.cookie,
        fields: { csrf_token: otherForm.fields.csrf_token! },
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(await expectErrorPage(res, 403)).toContain('expired');
    }
    // The untouched form still works.
    expect((await postLogin(form, user)).status).toBe(302);
  });

  it('a failed login re-renders the form with a generic message (no user enumeration) and records login_failed', async () => {
    const client = await newApp();
    const user = await newUser();
    const form = await openLoginForm(client, pkce().challenge);
    const wrongPassword = await postLogin(form, { email: user.email, password: 'not the password!' });
    const unknownUser = await postLogin(form, { email: 'nobody-here@example.com', password: PASSWORD });
    for (const res of [wrongPassword, unknownUser]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('location')).toBeNull();
      const html = await res.text();
      expect(html).toContain('Invalid email or password.');
      expect(html).toContain('name="password"');
      expect(html).not.toContain('not the password!');
    }
    const failed = (await events('acme', 'login_failed')).filter((e) => e.client_id === client.client_id);
    expect(failed).toHaveLength(2);
    expect(failed.map((e) => e.user_id ?? null).sort()).toEqual([null, user.id].sort());
    expect(JSON.stringify(failed)).not.toContain(PASSWORD);
  });

  it('the user must belong to the app’s tenant', async () => {
    const client = await newApp({ tenant_id: 'acme' });
    const outsider = await newUser('globex');
    const form = await openLoginForm(client, pkce().challenge);
    const res = await postLogin(form, outsider);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Invalid email or password.');
  });

  it('hidden fields are not trusted: POST validates the request again', async () => {
    const client = await newApp();
    const user = await newUser();
    const form = await openLoginForm(client, pkce().challenge);
    const evil = await postLogin(form, user, { fields: { redirect_uri: 'https://evil.example/cb' } });
    await expectErrorPage(evil);
    const wide = await postLogin(form, user, { fields: { scope: 'audit:read' } });
    expectRedirectError(wide, 'invalid_scope');
  });

  it('codes are random, stored hashed and bound to client, redirect_uri, challenge, user and scopes', async () => {
    const client = await newApp();
    const user = await newUser();
    const { verifier, challenge } = pkce();
    const form = await openLoginForm(client, challenge, { scope: 'people:read' });
    const res = await postLogin(form, user);
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    const stored = await store.collection('authorization_codes').get('acme', tokenId(code));
    expect(stored).toMatchObject({
      client_id: client.client_id,
      user_id: user.id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      scopes: ['people:read'],
    });
    expect(Number(stored?.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(JSON.stringify(stored)).not.toContain(code);
    expect(await store.collection('authorization_codes').get('acme', code)).toBeNull();
    expect((await exchange(client, code, verifier)).res.status).toBe(200);
  });
});

// --- token endpoint: authorization_code ------------------------------------------------

describe('grant_type=authorization_code', () => {
  it('user access tokens: sub = user, client_id, tenant_id, scope, roles; RS256, typ at+jwt, kid, jti, 1 h', async () => {
    const { client, user, tokens } = await signedIn();
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({
      alg: 'RS256',
      typ: 'at+jwt',
      kid: keys.current.kid,
    });
    const claims = await verifyAccessToken(tokens.access_token);
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: user.id,
      client_id: client.client_id,
      tenant_id: 'acme',
      roles: ['editor'],
    });
    expect(typeof claims.jti).toBe('string');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
  });

  it('redirect_uri must equal the one of the authorization request', async () => {
    const client = await newApp({ redirect_uris: [REDIRECT, 'https://app.example.com/other'] });
    const { code, verifier } = await authorize(client, await newUser());
    const wrong = await exchange(client, code, verifier, { redirect_uri: 'https://app.example.com/other' });
    expect(wrong.res.status).toBe(400);
    expect(wrong.body.error).toBe('invalid_grant');
    // A refused attempt does not burn the code for its rightful owner.
    expect((await exchange(client, code, verifier)).res.status).toBe(200);
  });

  it('the code_verifier must match the S256 challenge', async () => {
    const client = await newApp();
    const { code, verifier } = await authorize(client, await newUser());
    const flipped = `${verifier.slice(0, -1)}${verifier.endsWith('A') ? 'B' : 'A'}`;
    for (const wrong of [pkce().verifier, flipped, 'short']) {
      expect((await exchange(client, code, wrong)).body.error).toBe('invalid_grant');
    }
    const missing = await clientPost('/v1/oauth/token', client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
    });
    expect(((await missing.json()) as TokenBody).error).toBe('invalid_request');
    expect((await exchange(client, code, verifier)).res.status).toBe(200);
  });

  it('codes live 60 s', async () => {
    const client = await newApp();
    const { code, verifier } = await authorize(client, await newUser());
    const late = await withSkew(61_000, () => exchange(client, code, verifier));
    expect(late.body).toEqual({
      error: 'invalid_grant',
      error_description: 'authorization code has expired',
    });
  });

  it('unknown codes and codes issued to another client are invalid_grant', async () => {
    const client = await newApp();
    const other = await newApp();
    const { code, verifier } = await authorize(client, await newUser());
    expect((await exchange(other, code, verifier)).body.error).toBe('invalid_grant');
    expect((await exchange(client, randomBytes(32).toString('base64url'), verifier)).body.error).toBe(
      'invalid_grant',
    );
    // A different tenant's client cannot find the code either.
    const foreign = await newApp({ tenant_id: 'globex' });
    expect((await exchange(foreign, code, verifier)).body.error).toBe('invalid_grant');
    expect((await exchange(client, code, verifier)).res.status).toBe(200);
  });

  it('auth code replay fails and revokes the tokens issued from it', async () => {
    const client = await newApp();
    const user = await newUser();
    const { code, verifier } = await authorize(client, user);
    const first = await exchange(client, code, verifier);
    expect(first.res.status).toBe(200);
    const rotated = await refreshWith(client, first.body.refresh_token!);
    expect(rotated.res.status).toBe(200);

    const replay = await exchange(client, code, verifier);
    expect(replay.res.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');

    const { jti } = await verifyAccessToken(first.body.access_token);
    const revoked = await store.collection('revocations').get('acme', String(jti));
    expect(revoked).toMatchObject({ client_id: client.client_id });
    // Tokens from the refresh-token family go with it, including ones issued after the exchange.
    const { jti: laterJti } = await verifyAccessToken(rotated.body.access_token);
    expect(await store.collection('revocations').get('acme', String(laterJti))).not.toBeNull();
    expect((await introspect(client, first.body.access_token)).body.active).toBe(false);
    expect((await introspect(client, rotated.body.access_token)).body.active).toBe(false);
    expect((await refreshWith(client, rotated.body.refresh_token!)).body.error).toBe('invalid_grant');
    const revokedEvents = (await events('acme', 'revoked')).filter((e) => e.client_id === client.client_id);
    expect(revokedEvents[0]?.detail).toMatchObject({ reason: 'authorization_code_replay' });
  });

  it('concurrent exchanges of one code: exactly one succeeds, and its tokens are revoked too', async () => {
    const client = await newApp();
    const { code, verifier } = await authorize(client, await newUser());
    const results = await Promise.all([1, 2, 3].map(() => exchange(client, code, verifier)));
    const ok = results.filter((r) => r.res.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.body.error === 'invalid_grant')).toHaveLength(2);
    expect((await introspect(client, ok[0]!.body.access_token)).body.active).toBe(false);
  });

  it('public clients authenticate by client_id only; confidential ones must present their secret', async () => {
    const spa = await newPublicApp();
    const { code, verifier } = await authorize(spa, await newUser());
    const ok = await exchange(spa, code, verifier);
    expect(ok.res.status).toBe(200);
    expect(ok.body.refresh_token).toBeDefined();

    const confidential = await newApp();
    const second = await authorize(confidential, await newUser());
    const noSecret = await exchange(
      { ...confidential, client_secret: undefined },
      second.code,
      second.verifier,
    );
    expect(noSecret.res.status).toBe(401);
    expect(noSecret.body.error).toBe('invalid_client');
    // A public client presenting a secret is not one of ours either.
    const withSecret = await exchange({ ...spa, client_secret: 'made-up' }, code, verifier);
    expect(withSecret.res.status).toBe(401);
  });

  it('grant types are enforced per client: unauthorized_client', async () => {
    const ccOnly = await newApp({ grant_types: ['client_credentials'], redirect_uris: [] });
    const res = await clientPost('/v1/oauth/token', ccOnly, {
      grant_type: 'authorization_code',
      code: 'x',
      redirect_uri: REDIRECT,
      code_verifier: pkce().verifier,
    });
    expect(((await res.json()) as TokenBody).error).toBe('unauthorized_client');
    const refresh = await clientPost('/v1/oauth/token', ccOnly, {
      grant_type: 'refresh_token',
      refresh_token: 'x',
    });
    expect(((await refresh.json()) as TokenBody).error).toBe('unauthorized_client');

    const codeOnly = await newApp({ grant_types: ['authorization_code'] });
    const cc = await clientPost('/v1/oauth/token', codeOnly, { grant_type: 'client_credentials' });
    expect(((await cc.json()) as TokenBody).error).toBe('unauthorized_client');

    const spa = await newPublicApp();
    const publicCc = await clientPost('/v1/oauth/token', spa, { grant_type: 'client_credentials' });
    expect(publicCc.status).toBe(400);
    expect(((await publicCc.json()) as TokenBody).error).toBe('unauthorized_client');
  });

  it('a public client record with client_credentials (written around the API) still gets no token', async () => {
    const spa = await newPublicApp();
    await store.collection('apps').update('_platform', spa.client_id, {
      grant_types: ['client_credentials', 'authorization_code'],
    });
    const res = await clientPost('/v1/oauth/token', spa, { grant_type: 'client_credentials' });
    expect(((await res.json()) as TokenBody).error).toBe('unauthorized_client');
  });

  it('no refresh_token unless the app has the refresh_token grant', async () => {
    const client = await newApp({ grant_types: ['authorization_code'] });
    const { code, verifier } = await authorize(client, await newUser());
    const { res, body } = await exchange(client, code, verifier);
    expect(res.status).toBe(200);
    expect(body).not.toHaveProperty('refresh_token');
  });
});

// --- token endpoint: refresh_token -----------------------------------------------------

describe('grant_type=refresh_token', () => {
  it('rotation: each use returns a new refresh token and the old one stops working', async () => {
    const { client, tokens } = await signedIn();
    const next = await refreshWith(client, tokens.refresh_token!);
    expect(next.res.status).toBe(200);
    expect(next.body.refresh_token).toMatch(/^cpr_/);
    expect(next.body.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.body.access_token).not.toBe(tokens.access_token);
    const stored = await store.collection('refresh_tokens').get('acme', tokenId(tokens.refresh_token!));
    expect(stored?.used_at).not.toBeNull();
    expect((await refreshWith(client, tokens.refresh_token!)).body.error).toBe('invalid_grant');
  });

  it('refresh tokens are stored hashed with family, client, user, scopes, expiry and use', async () => {
    const { client, user, tokens } = await signedIn();
    const stored = await store.collection('refresh_tokens').get('acme', tokenId(tokens.refresh_token!));
    expect(stored).toMatchObject({ client_id: client.client_id, user_id: user.id, used_at: null });
    expect(stored?.family_id).toEqual(expect.any(String));
    expect(stored?.scopes).toEqual(['people:read', 'people:write']);
    expect(Number(stored?.expires_at)).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
    expect(JSON.stringify(stored)).not.toContain(tokens.refresh_token);
  });

  it('refresh token reuse revokes the family and records refresh_replay', async () => {
    const { client, user, tokens } = await signedIn();
    const second = await refreshWith(client, tokens.refresh_token!);
    const replay = await refreshWith(client, tokens.refresh_token!);
    expect(replay.res.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    // The thief's copy and the rightful holder's newer token both die.
    expect((await refreshWith(client, second.body.refresh_token!)).body.error).toBe('invalid_grant');
    expect((await introspect(client, second.body.access_token)).body.active).toBe(false);
    expect((await introspect(client, tokens.access_token)).body.active).toBe(false);
    const replays = (await events('acme', 'refresh_replay')).filter((e) => e.client_id === client.client_id);
    expect(replays).toHaveLength(1);
    expect(replays[0]).toMatchObject({ user_id: user.id, tenant_id: 'acme' });
    expect(JSON.stringify(replays)).not.toContain(tokens.refresh_token);
  });

  it('concurrent use of one refresh token: one rotation at most, and the family ends', async () => {
    const { client, tokens } = await signedIn();
    const results = await Promise.all([1, 2].map(() => refreshWith(client, tokens.refresh_token!)));
    expect(results.filter((r) => r.res.status === 200).length).toBeLessThanOrEqual(1);
    for (const r of results.filter((x) => x.res.status === 200)) {
      expect((await refreshWith(client, r.body.refresh_token!)).body.error).toBe('invalid_grant');
    }
  });

  it('scope on refresh may only narrow; the refresh token keeps the original grant', async () => {
    const { client, tokens } = await signedIn();
    const narrow = await refreshWith(client, tokens.refresh_token!, { scope: 'people:read' });
    expect(narrow.body.scope).toBe('people:read');
    expect((await verifyAccessToken(narrow.body.access_token)).scope).toBe('people:read');
    const wide = await refreshWith(client, narrow.body.refresh_token!, { scope: 'people:read audit:read' });
    expect(wide.body.error).toBe('invalid_scope');
    const back = await refreshWith(client, narrow.body.refresh_token!);
    expect(back.res.status).toBe(200);
    expect(back.body.scope).toBe('people:read people:write');
  });

  it('the family has an absolute lifetime (30 days) that rotation does not extend', async () => {
    const { client, tokens } = await signedIn();
    const rotated = await withSkew(29 * 24 * 3600 * 1000, () => refreshWith(client, tokens.refresh_token!));
    expect(rotated.res.status).toBe(200);
    const late = await withSkew(30 * 24 * 3600 * 1000 + 1000, () =>
      refreshWith(client, rotated.body.refresh_token!),
    );
    expect(late.body).toEqual({ error: 'invalid_grant', error_description: 'refresh token has expired' });
  });

  it('another client’s refresh token is invalid_grant', async () => {
    const { tokens } = await signedIn();
    const other = await newApp();
    expect((await refreshWith(other, tokens.refresh_token!)).body.error).toBe('invalid_grant');
  });

  it('public clients refresh by client_id only', async () => {
    const { client, tokens } = await signedIn(await newPublicApp());
    const next = await refreshWith(client, tokens.refresh_token!);
    expect(next.res.status).toBe(200);
  });
});

// --- revocation and introspection ------------------------------------------------------

describe('POST /v1/oauth/revoke', () => {
  it('revoking a refresh token revokes its family, whatever the hint says', async () => {
    for (const hint of ['refresh_token', 'access_token', undefined, 'something_else']) {
      const { client, tokens } = await signedIn();
      const res = await revoke(client, tokens.refresh_token!, hint);
      expect(res.status, String(hint)).toBe(200);
      expect((await refreshWith(client, tokens.refresh_token!)).body.error).toBe('invalid_grant');
      expect((await introspect(client, tokens.access_token)).body.active).toBe(false);
    }
  });

  it('revoking an access token records its jti in revocations, whatever the hint says', async () => {
    const { client, tokens } = await signedIn();
    expect((await revoke(client, tokens.access_token, 'refresh_token')).status).toBe(200);
    const { jti } = await verifyAccessToken(tokens.access_token);
    expect(await store.collection('revocations').get('acme', String(jti))).not.toBeNull();
    // The refresh token stays valid: revoking an access token is not a logout.
    expect((await refreshWith(client, tokens.refresh_token!)).res.status).toBe(200);
  });

  it('public clients may revoke their own tokens with client_id only', async () => {
    const { client, tokens } = await signedIn(await newPublicApp());
    expect((await revoke(client, tokens.refresh_token!)).status).toBe(200);
    expect((await refreshWith(client, tokens.refresh_token!)).body.error).toBe('invalid_grant');
  });

  it('answers 200 for unknown tokens and leaves other clients’ tokens alone', async () => {
    const { client, tokens } = await signedIn();
    const other = await newApp();
    expect((await revoke(other, 'not-a-token')).status).toBe(200);
    expect((await revoke(other, tokens.refresh_token!)).status).toBe(200);
    expect((await revoke(other, tokens.access_token)).status).toBe(200);
    expect((await introspect(client, tokens.refresh_token!)).body.active).toBe(true);
    expect((await introspect(client, tokens.access_token)).body.active).toBe(true);
    const unauthenticated = await app.request('/v1/oauth/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token }).toString(),
    });
    expect(unauthenticated.status).toBe(401);
  });
});

describe('POST /v1/oauth/introspect', () => {
  it('active tokens: scope, client_id, sub, tenant_id, exp, iat, token_type', async () => {
    const { client, user, tokens } = await signedIn();
    const access = await introspect(client, tokens.access_token);
    expect(access.res.status).toBe(200);
    expect(access.res.headers.get('cache-control')).toBe('no-store');
    expect(access.body).toMatchObject({
      active: true,
      token_type: 'Bearer',
      scope: 'people:read people:write',
      client_id: client.client_id,
      sub: user.id,
      tenant_id: 'acme',
      roles: ['editor'],
    });
    expect(access.body.exp).toEqual(expect.any(Number));
    expect(access.body.iat).toEqual(expect.any(Number));
    const refresh = await introspect(client, tokens.refresh_token!, 'refresh_token');
    expect(refresh.body).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      client_id: client.client_id,
      sub: user.id,
      tenant_id: 'acme',
    });
  });

  it('client_credentials tokens introspect too', async () => {
    const service = await newApp({ grant_types: ['client_credentials'], redirect_uris: [] });
    const res = await clientPost('/v1/oauth/token', service, { grant_type: 'client_credentials' });
    const { access_token } = (await res.json()) as TokenBody;
    expect((await introspect(service, access_token)).body).toMatchObject({
      active: true,
      sub: service.client_id,
    });
  });

  it('{active:false} for garbage, expired, revoked, rotated and other clients’ tokens', async () => {
    const { client, tokens } = await signedIn();
    const other = await newApp();
    expect((await introspect(client, 'garbage')).body).toEqual({ active: false });
    expect((await introspect(other, tokens.access_token)).body).toEqual({ active: false });
    expect((await introspect(other, tokens.refresh_token!)).body).toEqual({ active: false });
    const expired = await withSkew(3601_000, () => introspect(client, tokens.access_token));
    expect(expired.body).toEqual({ active: false });
    const rotated = await refreshWith(client, tokens.refresh_token!);
    expect((await introspect(client, tokens.refresh_token!)).body).toEqual({ active: false });
    await revoke(client, rotated.body.access_token);
    expect((await introspect(client, rotated.body.access_token)).body).toEqual({ active: false });
  });

  it('public clients may not introspect: 401 invalid_client', async () => {
    const { client, tokens } = await signedIn(await newPublicApp());
    const res = await introspect(client, tokens.access_token);
    expect(res.res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });
});

// --- token events ----------------------------------------------------------------------

describe('token events', () => {
  it('records issued, refreshed, revoked and client_auth_failed without any token; admin lists them', async () => {
    const tenant = unique('ev');
    const client = await newApp({ tenant_id: tenant });
    const user = await newUser(tenant);
    const { code, verifier } = await authorize(client, user);
    const { body } = await exchange(client, code, verifier);
    const next = await refreshWith(client, body.refresh_token!);
    await revoke(client, next.body.access_token);
    await clientPost(
      '/v1/oauth/token',
      { ...client, client_secret: 'wrong' },
      { grant_type: 'client_credentials' },
    );

    const all = await events(tenant);
    expect(all.map((e) => e.type).sort()).toEqual(['client_auth_failed', 'issued', 'refreshed', 'revoked']);
    for (const e of all) {
      expect(e).toMatchObject({ client_id: client.client_id, tenant_id: tenant });
      expect(e.id).toEqual(expect.any(String));
      expect(Date.parse(String(e.at))).not.toBeNaN();
    }
    expect(all.find((e) => e.type === 'issued')).toMatchObject({ user_id: user.id });
    const text = JSON.stringify(all);
    for (const secret of [
      body.access_token,
      body.refresh_token!,
      next.body.refresh_token!,
      code,
      client.client_secret!,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect((await events(tenant, 'refreshed')).map((e) => e.type)).toEqual(['refreshed']);
  });

  it('an unknown client’s failure goes to the _platform namespace', async () => {
    const id = unique('app_nobody');
    await clientPost(
      '/v1/oauth/token',
      { client_id: id, client_secret: 'x', tenant_id: '', scopes: [] },
      {
        grant_type: 'client_credentials',
      },
    );
    const platform = await events('_platform', 'client_auth_failed');
    expect(platform.some((e) => e.client_id === id)).toBe(true);
  });

  it('lists newest first with limit/after pagination, behind the admin token', async () => {
    const tenant = unique('page');
    const client = await newApp({
      tenant_id: tenant,
      grant_types: ['client_credentials'],
      redirect_uris: [],
    });
    for (let i = 0; i < 3; i++) {
      await clientPost('/v1/oauth/token', client, { grant_type: 'client_credentials' });
      await new Promise((r) => setTimeout(r, 2));
    }
    const first = (await (await admin(`/v1/token-events?tenant_id=${tenant}&limit=2`)).json()) as {
      events: Array<{ id: string; at: string }>;
      next_cursor: string;
    };
    expect(first.events).toHaveLength(2);
    expect(first.events[0]!.at >= first.events[1]!.at).toBe(true);
    const rest = (await (
      await admin(`/v1/token-events?tenant_id=${tenant}&limit=2&after=${first.next_cursor}`)
    ).json()) as { events: unknown[]; next_cursor: string | null };
    expect(rest.events).toHaveLength(1);
    expect(rest.next_cursor).toBeNull();
    expect((await app.request(`/v1/token-events?tenant_id=${tenant}`)).status).toBe(401);
    expect((await admin(`/v1/token-events?tenant_id=${tenant}&type=bogus`)).status).toBe(400);
  });
});

// --- throttling ------------------------------------------------------------------------

describe('throttling of repeated failures', () => {
  it('token endpoint: after 10 failures per client_id in 60 s → 429 with Retry-After until the window passes', async () => {
    const client = await newApp({ grant_types: ['client_credentials'], redirect_uris: [] });
    const wrong = { ...client, client_secret: 'wrong-secret' };
    for (let i = 0; i < 10; i++) {
      expect((await clientPost('/v1/oauth/token', wrong, { grant_type: 'client_credentials' })).status).toBe(
        401,
      );
    }
    // Even the right secret is refused while blocked: the guesser cannot tell when it hit.
    const blocked = await clientPost('/v1/oauth/token', client, { grant_type: 'client_credentials' });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await blocked.json()) as TokenBody).error).toBe('invalid_request');
    const later = await withSkew(61_000, () =>
      clientPost('/v1/oauth/token', client, { grant_type: 'client_credentials' }),
    );
    expect(later.status).toBe(200);
  });

  it('per source address: X-Forwarded-For counts only from a loopback peer', async () => {
    const viaGateway = { remoteAddress: '127.0.0.1' };
    const xff = { 'x-forwarded-for': '198.51.100.77' };
    for (let i = 0; i < 10; i++) {
      const fresh = { client_id: unique('app_guess'), client_secret: 'x', tenant_id: '', scopes: [] };
      await clientPost('/v1/oauth/token', fresh, { grant_type: 'client_credentials' }, viaGateway, xff);
    }
    const service = await newApp({ grant_types: ['client_credentials'], redirect_uris: [] });
    const fromAttacker = await clientPost(
      '/v1/oauth/token',
      service,
      { grant_type: 'client_credentials' },
      viaGateway,
      xff,
    );
    expect(fromAttacker.status).toBe(429);
    // Another forwarded client, and the gateway's own address, are not blocked.
    const other = await clientPost(
      '/v1/oauth/token',
      service,
      { grant_type: 'client_credentials' },
      viaGateway,
      {
        'x-forwarded-for': '198.51.100.78',
      },
    );
    expect(other.status).toBe(200);
    expect(
      (await clientPost('/v1/oauth/token', service, { grant_type: 'client_credentials' }, viaGateway)).status,
    ).toBe(200);
    // From a non-loopback peer the header is the caller's own word: the socket address counts.
    const direct = await clientPost(
      '/v1/oauth/token',
      service,
      { grant_type: 'client_credentials' },
      { remoteAddress: '203.0.113.9' },
      xff,
    );
    expect(direct.status).toBe(200);
  });

  it('login: 10 failed sign-ins for an account → 429 page with Retry-After', async () => {
    const client = await newApp();
    const user = await newUser();
    const form = await openLoginForm(client, pkce().challenge);
    for (let i = 0; i < 10; i++) {
      expect((await postLogin(form, { email: user.email, password: `wrong password ${i}` })).status).toBe(
        401,
      );
    }
    const blocked = await postLogin(form, user);
    expect(await expectErrorPage(blocked, 429)).toContain('Too many');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.headers.get('content-security-policy')).toContain("default-src 'none'");
    const later = await withSkew(61_000, async () => {
      const fresh = await openLoginForm(client, pkce().challenge);
      return postLogin(fresh, user);
    });
    expect(later.status).toBe(302);
  });

  it('login: 10 failures from one source address block it across accounts', async () => {
    const client = await newApp();
    const user = await newUser();
    const form = await openLoginForm(client, pkce().challenge);
    const env = { remoteAddress: '203.0.113.50' };
    for (let i = 0; i < 10; i++) {
      await postLogin(form, { email: `${unique('x')}@example.com`, password: 'wrong password!' }, { env });
    }
    expect((await postLogin(form, user, { env })).status).toBe(429);
    expect((await postLogin(form, user, { env: { remoteAddress: '203.0.113.51' } })).status).toBe(302);
  });
});

describe('POST /v1/oauth/apps/{id}/rotate-secret', () => {
  const rotateSecret = (clientId: string, body?: unknown) =>
    admin(`/v1/oauth/apps/${clientId}/rotate-secret`, {
      method: 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const ccToken = (client: TestApp, secret: string) =>
    clientPost('/v1/oauth/token', { ...client, client_secret: secret }, { grant_type: 'client_credentials' });
  const service = () => newApp({ grant_types: ['client_credentials'], redirect_uris: [] });

  it('without a grace period the old secret stops working at once, even right after a cached success', async () => {
    const client = await service();
    expect((await ccToken(client, client.client_secret!)).status).toBe(200);
    const res = await rotateSecret(client.client_id);
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { client_secret: string; previous_secret_expires_at: null };
    expect(rotated.previous_secret_expires_at).toBeNull();
    expect((await ccToken(client, client.client_secret!)).status).toBe(401);
    expect((await ccToken(client, rotated.client_secret)).status).toBe(200);
  });

  it('with grace_period_seconds the old secret works until the period ends, then never again', async () => {
    const client = await service();
    const res = await rotateSecret(client.client_id, { grace_period_seconds: 600 });
    const rotated = (await res.json()) as { client_secret: string; previous_secret_expires_at: string };
    expect(Date.parse(rotated.previous_secret_expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect((await ccToken(client, client.client_secret!)).status).toBe(200);
    expect((await ccToken(client, rotated.client_secret)).status).toBe(200);
    await withSkew(601_000, async () => {
      expect((await ccToken(client, client.client_secret!)).status).toBe(401);
      expect((await ccToken(client, rotated.client_secret)).status).toBe(200);
    });
  });

  it('a second rotation ends the first one’s grace: at most two secrets are ever valid', async () => {
    const client = await service();
    const first = (await (await rotateSecret(client.client_id, { grace_period_seconds: 600 })).json()) as {
      client_secret: string;
    };
    await rotateSecret(client.client_id, { grace_period_seconds: 600 });
    expect((await ccToken(client, client.client_secret!)).status).toBe(401);
    expect((await ccToken(client, first.client_secret)).status).toBe(200);
  });

  it('the grace period is bounded (0-86400 s) and named in the error', async () => {
    const client = await service();
    for (const grace of [86_401, -1, 1.5, 'soon']) {
      const res = await rotateSecret(client.client_id, { grace_period_seconds: grace });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('grace_period_seconds');
    }
    expect((await rotateSecret(client.client_id, { grace: 1 })).status).toBe(400);
    expect((await ccToken(client, client.client_secret!)).status).toBe(200);
  });
});

describe('CORS for browser clients on token and revoke', () => {
  const ORIGIN = new URL(REDIRECT).origin;
  const preflight = (path: string, origin: string) =>
    app.request(path, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });

  it('preflight: only origins of public apps’ redirect URIs, never a wildcard or credentials', async () => {
    await newPublicApp();
    for (const path of ['/v1/oauth/token', '/v1/oauth/revoke']) {
      const ok = await preflight(path, ORIGIN);
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(ok.headers.get('access-control-allow-methods')).toBe('POST');
      expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
      const evil = await preflight(path, 'https://evil.example');
      expect(evil.status).toBe(403);
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('responses are readable only from the calling public client’s own origins', async () => {
    const web = await newPublicApp({ redirect_uris: ['https://spa.example.org/cb'] });
    const other = await newPublicApp({ redirect_uris: ['https://other.example.org/cb'] });
    const confidential = await newApp({ redirect_uris: ['https://server.example.org/cb'] });
    const call = (client: TestApp, origin: string) =>
      clientPost('/v1/oauth/revoke', client, { token: 'x' }, undefined, { origin });
    const allowed = async (res: Response) => {
      expect(res.headers.get('vary')).toContain('Origin');
      return res.headers.get('access-control-allow-origin');
    };
    expect(await allowed(await call(web, 'https://spa.example.org'))).toBe('https://spa.example.org');
    expect(await allowed(await call(web, 'https://other.example.org'))).toBeNull();
    expect(await allowed(await call(other, 'https://spa.example.org'))).toBeNull();
    expect(await allowed(await call(confidential, 'https://server.example.org'))).toBeNull();
    // Errors after the client is known are readable too, so the app can react to invalid_grant.
    const failed = await clientPost(
      '/v1/oauth/token',
      web,
      { grant_type: 'refresh_token', refresh_token: 'nope' },
      undefined,
      {
        origin: 'https://spa.example.org',
      },
    );
    expect(failed.status).toBe(400);
    expect(failed.headers.get('access-control-allow-origin')).toBe('https://spa.example.org');
  });
});

describe('revocation feed (GET /v1/revocations)', () => {
  const feed = async (query = '') => {
    const res = await admin(`/v1/revocations${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as {
      revocations: Array<{ id: string; jti: string; tenant_id: string; expires_at: number }>;
      next_cursor: string | null;
      server_time: number;
    };
  };

  it('lists the access tokens a refresh replay revoked, for the gateways to hand to their sidecars', async () => {
    const before = (await feed()).server_time;
    const { client, tokens } = await signedIn();
    const jti = (await verifyAccessToken(tokens.access_token)).jti;
    const rotated = await refreshWith(client, tokens.refresh_token!);
    expect(rotated.res.status).toBe(200);
    expect((await refreshWith(client, tokens.refresh_token!)).res.status).toBe(400);
    const page = await feed(`?since=${before}`);
    const jtis = page.revocations.map((r) => r.jti);
    expect(jtis).toContain(jti);
    expect(jtis).toContain((await verifyAccessToken(rotated.body.access_token)).jti);
    expect(page.revocations.every((r) => r.tenant_id === 'acme' && r.expires_at > before / 1000)).toBe(true);
  });

  it('since and after page through it in order; admin only', async () => {
    const { client, tokens } = await signedIn();
    const start = (await feed()).server_time;
    await revoke(client, tokens.access_token);
    const all = (await feed(`?since=${start}`)).revocations;
    expect(all.length).toBeGreaterThanOrEqual(1);
    const first = await feed(`?since=${start - 10_000}&limit=1`);
    expect(first.revocations).toHaveLength(1);
    if (first.next_cursor) {
      const second = await feed(`?after=${first.next_cursor}&limit=1`);
      expect(second.revocations[0]?.id ?? '~').not.toBe(first.revocations[0]!.id);
    }
    expect((await app.request('/v1/revocations')).status).toBe(401);
  });

  it('the feed token reads the feed and nothing else of the admin API', async () => {
    const asFeed = (path: string, init: RequestInit = {}) =>
      app.request(path, { ...init, headers: { authorization: `Bearer ${FEED}`, ...init.headers } });
    expect((await asFeed('/v1/revocations')).status).toBe(200);
    expect((await asFeed('/v1/oauth/apps')).status).toBe(401);
    expect((await asFeed('/v1/token-events?tenant_id=acme')).status).toBe(401);
    expect((await asFeed('/v1/keys/rotate', { method: 'POST' })).status).toBe(401);
    expect(
      (
        await asFeed('/v1/users', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            tenant_id: 'acme',
            email: 'x@example.com',
            password: 'long enough pw 1',
            roles: [],
          }),
        })
      ).status,
    ).toBe(401);
    expect((await admin('/v1/revocations?since=yesterday')).status).toBe(400);
  });
});

describe('expired records are deleted', () => {
  it('codes, refresh tokens, families and revocations are swept once expired, through the document port', async () => {
    const { expiryIndex } = await import('./expiry-index.js');
    const { client, tokens } = await signedIn();
    await refreshWith(client, tokens.refresh_token!);
    await revoke(client, tokens.access_token);
    const count = async (name: string) => store.collection(name).count('acme');
    const counted = ['authorization_codes', 'refresh_tokens', 'refresh_families', 'revocations'];
    const before = await Promise.all(counted.map(count));
    expect(before.every((n) => n > 0)).toBe(true);
    // An hour from now codes and revocations are gone; the refresh family lives 30 days.
    await expiryIndex(store).sweep(Date.now() + 3 * 3600_000);
    expect(await count('authorization_codes')).toBe(0);
    expect(await count('revocations')).toBe(0);
    expect(await count('refresh_families')).toBeGreaterThan(0);
    await expiryIndex(store).sweep(Date.now() + 31 * 24 * 3600_000);
    for (const name of [...counted, 'refresh_token_uses', 'authorization_code_uses']) {
      expect(await count(name), name).toBe(0);
    }
    expect(await store.collection('expiring_records').count('_platform')).toBe(0);
  });
});

describe('login page CSP', () => {
  it('form-action names the redirect origin, so the final redirect with the code is not blocked', async () => {
    const client = await newPublicApp();
    const form = await openLoginForm(client, pkce().challenge);
    expect(form.res.headers.get('content-security-policy')).toContain(
      `form-action 'self' ${new URL(REDIRECT).origin}`,
    );
  });
});
