// What the OAuth end-to-end tests do over and over against a running platform: register apps
// and users through the admin API, walk the login page like a browser without JavaScript would,
// and call the token endpoints through the gateway.
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Platform } from './platform.js';

export const PASSWORD = 'correct horse battery staple';
export const REDIRECT = 'https://app.example.com/callback';

export interface OAuthApp {
  client_id: string;
  client_secret?: string;
  tenant_id: string;
  client_type: 'confidential' | 'public';
  scopes: string[];
  grant_types: string[];
  redirect_uris: string[];
}

export interface TokenBody {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
  error?: string;
  error_description?: string;
}

export function admin(platform: Platform, path: string, init: RequestInit = {}) {
  return fetch(`${platform.controlPlaneUrl}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${platform.adminToken}`,
      'content-type': 'application/json',
      ...init.headers,
    },
  });
}

let seq = 0;
export const unique = (prefix: string) => `${prefix}${++seq}${randomBytes(3).toString('hex')}`;

/** A web app (authorization code + refresh) unless `body` says otherwise. */
export async function registerApp(platform: Platform, body: Record<string, unknown> = {}): Promise<OAuthApp> {
  const res = await admin(platform, '/v1/oauth/apps', {
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
  return (await res.json()) as OAuthApp;
}

export async function registerUser(platform: Platform, tenant = 'acme', roles = ['editor']) {
  const email = `${unique('user')}@example.com`;
  const res = await admin(platform, '/v1/users', {
    method: 'POST',
    body: JSON.stringify({ tenant_id: tenant, email, password: PASSWORD, roles }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return { ...((await res.json()) as { id: string; email: string }), password: PASSWORD };
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeQuery(
  client: OAuthApp,
  challenge: string,
  extra: Record<string, string | undefined> = {},
): string {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    state: 'st-e2e-123',
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

export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[unescapeHtml(m[1] ?? '')] = unescapeHtml(m[2] ?? '');
  }
  return fields;
}

export interface LoginForm {
  res: Response;
  html: string;
  fields: Record<string, string>;
  cookie: string;
}

/** GET /v1/oauth/authorize as a browser: the login page, its hidden fields and CSRF cookie. */
export async function openLoginForm(baseUrl: string, query: string): Promise<LoginForm> {
  const res = await fetch(`${baseUrl}/v1/oauth/authorize?${query}`, { redirect: 'manual' });
  const html = await res.text();
  expect(res.status, html).toBe(200);
  const header = res.headers.getSetCookie().find((c) => c.startsWith('cpod_csrf='));
  expect(header, 'csrf cookie').toBeDefined();
  return { res, html, fields: hiddenFields(html), cookie: (header ?? '').split(';')[0] ?? '' };
}

/** Submits the login form the way the browser would, with its cookie unless told otherwise. */
export function postLogin(
  baseUrl: string,
  form: Pick<LoginForm, 'fields' | 'cookie'>,
  credentials: { email: string; password: string },
  options: { cookie?: string | null; fields?: Record<string, string>; headers?: Record<string, string> } = {},
) {
  const cookie = options.cookie === undefined ? form.cookie : options.cookie;
  return fetch(`${baseUrl}/v1/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(cookie === null ? {} : { cookie }),
      ...options.headers,
    },
    body: new URLSearchParams({ ...form.fields, ...credentials, ...options.fields }),
  });
}

/** Authorize → login → the redirect back with a code. */
export async function signIn(
  baseUrl: string,
  client: OAuthApp,
  user: { email: string; password: string },
  extra: Record<string, string | undefined> = {},
) {
  const { verifier, challenge } = pkce();
  const form = await openLoginForm(baseUrl, authorizeQuery(client, challenge, extra));
  const res = await postLogin(baseUrl, form, user);
  expect(res.status, await res.clone().text()).toBe(302);
  const location = new URL(res.headers.get('location') ?? '');
  return { code: location.searchParams.get('code') ?? '', verifier, location };
}

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A token-endpoint style request, authenticated the way the client's type requires. */
export function clientPost(
  baseUrl: string,
  path: string,
  client: Pick<OAuthApp, 'client_id' | 'client_secret'>,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const auth: Record<string, string> = client.client_secret
    ? { authorization: basic(client.client_id, client.client_secret) }
    : {};
  const body = client.client_secret ? params : { client_id: client.client_id, ...params };
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth, ...headers },
    body: new URLSearchParams(body),
  });
}

export async function exchangeCode(
  baseUrl: string,
  client: OAuthApp,
  code: string,
  verifier: string,
  redirectUri = REDIRECT,
) {
  const res = await clientPost(baseUrl, '/v1/oauth/token', client, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  return { res, body: (await res.json()) as TokenBody };
}

export async function refreshWith(baseUrl: string, client: OAuthApp, refreshToken: string, scope?: string) {
  const res = await clientPost(baseUrl, '/v1/oauth/token', client, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    ...(scope ? { scope } : {}),
  });
  return { res, body: (await res.json()) as TokenBody };
}

/** GET /v1/people through the gateway: 200 while the token is good, 401 once it is not. */
export async function gatewayStatus(platform: Platform, token: string): Promise<number> {
  const res = await fetch(`${platform.gatewayUrl}/v1/people`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status;
}

/** Polls until the gateway refuses `token`; returns how long that took. */
export async function msUntilRejected(platform: Platform, token: string, limitMs = 5_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if ((await gatewayStatus(platform, token)) === 401) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number.POSITIVE_INFINITY;
}

export async function tokenEvents(platform: Platform, tenant: string, type?: string) {
  const res = await admin(
    platform,
    `/v1/token-events?tenant_id=${tenant}&limit=200${type ? `&type=${type}` : ''}`,
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
}
