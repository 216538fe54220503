import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Handler, type Received, scriptedServers } from '../../test/helpers/scripted-server.js';
import {
  type AuthStorage,
  BrowserAuth,
  type BrowserAuthOptions,
  createPkcePair,
  memoryStorage,
  pkceChallenge,
  type TokenSet,
  webStorage,
} from './browser-auth.js';
import { AuthError, CpodError, RateLimitError, ValidationError } from './errors.js';
import * as sdk from './index.js';

const servers = scriptedServers();
afterEach(() => servers.closeAll());

const CLIENT_ID = 'spa_123';
const REDIRECT_URI = 'https://app.example.com/callback?from=login';
const NOW = 1_700_000_000_000;

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function form(req: Received): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(req.body));
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function tokenResponse(n: number): Record<string, unknown> {
  return {
    access_token: `access-token-${n}`,
    token_type: 'Bearer',
    expires_in: 900,
    scope: 'people:read',
    refresh_token: `refresh-token-${n}`,
  };
}

/**
 * A stand-in for the control plane's token and revocation endpoints, checking PKCE the way the
 * real one does: the code maps to the challenge the authorize URL carried. The real server is
 * exercised by the e2e tests.
 */
async function authServer(options: { tokenDelayMs?: number; token?: Handler } = {}) {
  const challenges = new Map<string, string>();
  let issued = 0;
  const { url, received } = await servers.listen((req, res, i) => {
    if (req.method === 'POST' && req.path === '/v1/oauth/revoke') {
      json(res, 200, {});
      return;
    }
    if (req.method !== 'POST' || req.path !== '/v1/oauth/token') {
      json(res, 404, { error: 'not_found' });
      return;
    }
    if (options.token) {
      options.token(req, res, i);
      return;
    }
    const body = form(req);
    if (body.grant_type === 'authorization_code') {
      const challenge = challenges.get(body.code ?? '');
      challenges.delete(body.code ?? '');
      if (challenge === undefined || s256(body.code_verifier ?? '') !== challenge) {
        json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
        return;
      }
    }
    issued += 1;
    const n = issued;
    setTimeout(() => json(res, 200, tokenResponse(n)), options.tokenDelayMs ?? 0);
  });
  return {
    url,
    received,
    tokenRequests: () => received.filter((r) => r.path === '/v1/oauth/token'),
    revocations: () => received.filter((r) => r.path === '/v1/oauth/revoke'),
    /** What the login page does on success: issue a code for the request's challenge and redirect. */
    approve(authorizeUrl: string, code = `code-${challenges.size + 1}-abcdefgh`): string {
      const params = new URL(authorizeUrl).searchParams;
      challenges.set(code, params.get('code_challenge') ?? '');
      const callback = new URL(params.get('redirect_uri') ?? '');
      callback.searchParams.set('code', code);
      callback.searchParams.set('state', params.get('state') ?? '');
      callback.searchParams.set('iss', url);
      return callback.toString();
    },
  };
}

function browserAuth(baseUrl: string, overrides: Partial<BrowserAuthOptions> = {}): BrowserAuth {
  return new BrowserAuth({
    baseUrl,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    scope: ['people:read', 'people:write'],
    now: () => NOW,
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<CpodError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CpodError);
  return err as CpodError;
}

function printed(err: CpodError): string[] {
  return [err.message, err.detail ?? '', String(err), inspect(err), JSON.stringify(err)];
}

describe('PKCE', () => {
  it('matches the RFC 7636 Appendix B test vector', async () => {
    await expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).resolves.toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('turns the RFC 7636 Appendix B random octets into its verifier and challenge', async () => {
    const octets = [
      116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214,
      191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(<T>(array: T): T => {
      (array as Uint8Array).set(octets);
      return array;
    });
    try {
      await expect(createPkcePair()).resolves.toEqual({
        verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
        challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      });
      expect(spy).toHaveBeenCalledWith(expect.objectContaining({ length: 32 }));
    } finally {
      spy.mockRestore();
    }
  });

  it('creates random 43-character verifiers with their S256 challenge', async () => {
    const pairs = await Promise.all(Array.from({ length: 50 }, () => createPkcePair()));
    for (const { verifier, challenge } of pairs) {
      expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(challenge).toBe(s256(verifier));
      // 43 base64url characters are 32 bytes exactly (the last one carries 4 zero bits).
      expect(Buffer.from(verifier, 'base64url')).toHaveLength(32);
    }
    expect(new Set(pairs.map((p) => p.verifier)).size).toBe(50);
  });

  it('accepts the whole verifier range: 43 and 128 characters, every unreserved symbol', async () => {
    for (const verifier of ['a'.repeat(43), 'Zz09'.repeat(16), '~._-'.repeat(32)]) {
      await expect(pkceChallenge(verifier)).resolves.toBe(s256(verifier));
    }
  });

  it('rejects verifiers outside RFC 7636 §4.1', async () => {
    for (const verifier of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}+`, `${'a'.repeat(42)}é`]) {
      const err = await rejection(pkceChallenge(verifier));
      expect(err.code).toBe('ERR_SDK_INVALID_ARGUMENT');
      expect(err.message).not.toContain(verifier);
    }
  });
});

describe('BrowserAuth.authorizeUrl', () => {
  it('has every authorization request parameter, S256 and a 256-bit state, and sends nothing', async () => {
    const server = await authServer();
    const auth = browserAuth(`${server.url}/`);
    const url = new URL(await auth.authorizeUrl());
    expect(`${url.origin}${url.pathname}`).toBe(`${server.url}/v1/oauth/authorize`);
    const params = url.searchParams;
    expect([...params.keys()].sort()).toEqual(
      [
        'client_id',
        'code_challenge',
        'code_challenge_method',
        'redirect_uri',
        'response_type',
        'scope',
        'state',
      ].sort(),
    );
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe(CLIENT_ID);
    expect(params.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(params.get('scope')).toBe('people:read people:write');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(server.received).toHaveLength(0);

    const again = new URL(await auth.authorizeUrl()).searchParams;
    expect(again.get('state')).not.toBe(params.get('state'));
    expect(again.get('code_challenge')).not.toBe(params.get('code_challenge'));
  });

  it('omits scope when none is configured and keeps a base path', async () => {
    const auth = new BrowserAuth({
      baseUrl: 'https://api.example.com/cpod/',
      clientId: 'c',
      redirectUri: REDIRECT_URI,
    });
    const url = new URL(await auth.authorizeUrl());
    expect(url.pathname).toBe('/cpod/v1/oauth/authorize');
    expect(url.searchParams.has('scope')).toBe(false);
    expect(auth.tokenEndpoint).toBe('https://api.example.com/cpod/v1/oauth/token');
  });

  it('stores only state and verifier, never the challenge, under a per-client key', async () => {
    const entries = new Map<string, string>();
    const storage = webStorage({
      getItem: (key) => entries.get(key) ?? null,
      setItem: (key, value) => void entries.set(key, value),
      removeItem: (key) => void entries.delete(key),
    });
    const params = new URL(await browserAuth('https://api.example.com', { storage }).authorizeUrl())
      .searchParams;
    expect([...entries.keys()]).toEqual([`cpod.oauth.pending.${CLIENT_ID}`]);
    const stored = JSON.parse([...entries.values()][0]!) as { state: string; verifier: string };
    expect(stored.state).toBe(params.get('state'));
    expect(s256(stored.verifier)).toBe(params.get('code_challenge'));
  });

  it('refuses a bad configuration', () => {
    const base = { baseUrl: 'https://api.example.com', clientId: 'c', redirectUri: REDIRECT_URI };
    for (const bad of [
      { clientId: ' ' },
      { baseUrl: 'not a url' },
      { baseUrl: 'ftp://api.example.com' },
      { baseUrl: 'https://user:pw@api.example.com' },
      { redirectUri: '/callback' },
      { redirectUri: 'https://app.example.com/callback#frag' },
    ]) {
      expect(() => new BrowserAuth({ ...base, ...bad })).toThrow(
        expect.objectContaining({ code: 'ERR_SDK_CONFIG' }),
      );
    }
    expect(() => new BrowserAuth({ ...base, baseUrl: 'https://user:hunter2@x.example' })).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('hunter2') }),
    );
  });
});

describe('BrowserAuth.handleCallback', () => {
  it('exchanges the code with exactly the right form fields and returns the token set', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url, { issuer: server.url });
    const authorizeUrl = await auth.authorizeUrl();
    const tokens = await auth.handleCallback(server.approve(authorizeUrl));

    expect(tokens).toEqual({
      accessToken: 'access-token-1',
      refreshToken: 'refresh-token-1',
      expiresAt: NOW + 900_000,
      scope: 'people:read',
    });
    const [req, ...rest] = server.tokenRequests();
    expect(rest).toHaveLength(0);
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // A public client: no secret anywhere, no HTTP Basic.
    expect(req!.headers.authorization).toBeUndefined();
    const body = form(req!);
    expect(Object.keys(body).sort()).toEqual(
      ['client_id', 'code', 'code_verifier', 'grant_type', 'redirect_uri'].sort(),
    );
    expect(body).toMatchObject({
      grant_type: 'authorization_code',
      code: 'code-1-abcdefgh',
      redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID,
    });
    expect(s256(body.code_verifier!)).toBe(new URL(authorizeUrl).searchParams.get('code_challenge'));
  });

  it('accepts a URL object and a token response without scope (falls back to the requested one)', async () => {
    const server = await authServer({
      token: (_req, res) =>
        json(res, 200, { access_token: 'at-xyz-123456', token_type: 'bearer', expires_in: '60' }),
    });
    const auth = browserAuth(server.url);
    const state = new URL(await auth.authorizeUrl()).searchParams.get('state')!;
    const callback = new URL(REDIRECT_URI);
    callback.searchParams.set('code', 'c0de-1234567');
    callback.searchParams.set('state', state);
    await expect(auth.handleCallback(callback)).resolves.toEqual({
      accessToken: 'at-xyz-123456',
      refreshToken: undefined,
      expiresAt: NOW + 60_000,
      scope: 'people:read people:write',
    });
  });

  it('rejects a state mismatch without calling the token endpoint, and the pending sign-in is spent', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    const authorizeUrl = await auth.authorizeUrl();
    const genuine = new URL(server.approve(authorizeUrl));
    const forged = new URL(genuine);
    forged.searchParams.set('state', 'attacker-state-0123456789abcdefghijklmnopq');

    const err = await rejection(auth.handleCallback(forged.toString()));
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 0, code: 'ERR_AUTH_STATE_MISMATCH' });
    expect(err.message).toMatch(/CSRF/);
    for (const text of printed(err)) expect(text).not.toContain(genuine.searchParams.get('code')!);

    // The genuine callback arriving afterwards is no longer accepted either.
    await expect(auth.handleCallback(genuine.toString())).rejects.toMatchObject({
      code: 'ERR_AUTH_NO_PENDING_AUTHORIZATION',
    });
    expect(server.received).toHaveLength(0);
  });

  it('rejects a state that is a prefix or an extension of the genuine one', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    for (const tamper of [(state: string) => state.slice(0, -1), (state: string) => `${state}A`]) {
      const callback = new URL(server.approve(await auth.authorizeUrl()));
      callback.searchParams.set('state', tamper(callback.searchParams.get('state')!));
      await expect(auth.handleCallback(callback.toString())).rejects.toMatchObject({
        code: 'ERR_AUTH_STATE_MISMATCH',
      });
    }
    expect(server.received).toHaveLength(0);
  });

  it('rejects a callback without state without calling the token endpoint', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    const callback = new URL(server.approve(await auth.authorizeUrl()));
    callback.searchParams.delete('state');
    const err = await rejection(auth.handleCallback(callback.toString()));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.code).toBe('ERR_AUTH_STATE_MISSING');
    expect(server.received).toHaveLength(0);
  });

  it('rejects a callback when no sign-in was started', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    const callback = server.approve(await browserAuth(server.url).authorizeUrl());
    await expect(auth.handleCallback(callback)).rejects.toMatchObject({
      name: 'AuthError',
      code: 'ERR_AUTH_NO_PENDING_AUTHORIZATION',
    });
    expect(server.received).toHaveLength(0);
  });

  it('rejects a replayed callback', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    const callback = server.approve(await auth.authorizeUrl());
    await expect(auth.handleCallback(callback)).resolves.toMatchObject({ accessToken: 'access-token-1' });
    const err = await rejection(auth.handleCallback(callback));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.code).toBe('ERR_AUTH_NO_PENDING_AUTHORIZATION');
    expect(server.tokenRequests()).toHaveLength(1);
  });

  it('spends the pending sign-in even when the code exchange fails', async () => {
    const server = await authServer({
      token: (_req, res) => json(res, 400, { error: 'invalid_grant', error_description: 'code expired' }),
    });
    const auth = browserAuth(server.url);
    const callback = server.approve(await auth.authorizeUrl());
    await expect(auth.handleCallback(callback)).rejects.toMatchObject({
      code: 'ERR_AUTH_INVALID_GRANT',
      oauthError: 'invalid_grant',
    });
    await expect(auth.handleCallback(callback)).rejects.toMatchObject({
      code: 'ERR_AUTH_NO_PENDING_AUTHORIZATION',
    });
    expect(server.tokenRequests()).toHaveLength(1);
  });

  it('surfaces error=access_denied as an AuthError carrying the OAuth code', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    const state = new URL(await auth.authorizeUrl()).searchParams.get('state')!;
    const callback = new URL(REDIRECT_URI);
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', 'The user denied the request');
    callback.searchParams.set('state', state);
    const err = await rejection(auth.handleCallback(callback.toString()));
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({
      code: 'ERR_AUTH_ACCESS_DENIED',
      oauthError: 'access_denied',
      detail: 'The user denied the request',
      status: 0,
    });
    expect(err.message).toContain('access_denied');
    expect(server.received).toHaveLength(0);
    // An error response spends the pending sign-in too.
    await expect(auth.handleCallback(callback.toString())).rejects.toMatchObject({
      code: 'ERR_AUTH_NO_PENDING_AUTHORIZATION',
    });
  });

  it('checks state before believing an error response', async () => {
    const auth = browserAuth('https://api.example.com');
    await auth.authorizeUrl();
    const callback = new URL(REDIRECT_URI);
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('state', 'not-the-state-0123456789abcdefghijklmnopqrs');
    await expect(auth.handleCallback(callback.toString())).rejects.toMatchObject({
      code: 'ERR_AUTH_STATE_MISMATCH',
    });
  });

  it('enforces iss when an issuer is configured (RFC 9207)', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url, { issuer: 'https://other-issuer.example.com' });
    await expect(auth.handleCallback(server.approve(await auth.authorizeUrl()))).rejects.toMatchObject({
      code: 'ERR_AUTH_ISSUER_MISMATCH',
    });
    const callback = new URL(server.approve(await auth.authorizeUrl()));
    callback.searchParams.delete('iss');
    await expect(auth.handleCallback(callback.toString())).rejects.toMatchObject({
      code: 'ERR_AUTH_ISSUER_MISMATCH',
    });
    expect(server.received).toHaveLength(0);
  });

  it('rejects malformed callbacks', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);

    await auth.authorizeUrl();
    await expect(auth.handleCallback('/callback?code=x&state=y')).rejects.toMatchObject({
      code: 'ERR_AUTH_INVALID_CALLBACK',
    });

    const state = new URL(await auth.authorizeUrl()).searchParams.get('state')!;
    await expect(auth.handleCallback(`${REDIRECT_URI}&state=${state}`)).rejects.toMatchObject({
      code: 'ERR_AUTH_INVALID_CALLBACK',
    });

    const callback = new URL(server.approve(await auth.authorizeUrl()));
    callback.searchParams.append('code', 'second-code-12345');
    await expect(auth.handleCallback(callback.toString())).rejects.toMatchObject({
      code: 'ERR_AUTH_INVALID_CALLBACK',
    });
    expect(server.received).toHaveLength(0);
  });

  it('keeps the code and the verifier out of errors, even when the server echoes them', async () => {
    const server = await authServer({
      token: (req, res) => {
        const body = form(req);
        json(res, 400, {
          error: 'invalid_grant',
          error_description: `bad code ${body.code} for verifier ${body.code_verifier} (raw: ${req.body})`,
        });
      },
    });
    const auth = browserAuth(server.url);
    const callback = server.approve(await auth.authorizeUrl(), 'secret-code-0123456789');
    const err = await rejection(auth.handleCallback(callback));
    const verifier = form(server.tokenRequests()[0]!).code_verifier!;
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 400, code: 'ERR_AUTH_INVALID_GRANT', oauthError: 'invalid_grant' });
    for (const text of printed(err)) {
      expect(text).not.toContain('secret-code-0123456789');
      expect(text).not.toContain(verifier);
    }
    expect(err.message).toContain('[REDACTED]');
  });

  it('works with asynchronous storage shared by two instances (a full-page redirect)', async () => {
    const entries = new Map<string, string>();
    const storage: AuthStorage = {
      get: async (key) => entries.get(key),
      set: async (key, value) => {
        entries.set(key, value);
      },
      delete: async (key) => {
        entries.delete(key);
      },
    };
    const server = await authServer();
    const callback = server.approve(await browserAuth(server.url, { storage }).authorizeUrl());
    // The page reloads: a new instance, same storage.
    await expect(browserAuth(server.url, { storage }).handleCallback(callback)).resolves.toMatchObject({
      accessToken: 'access-token-1',
    });
    expect(entries.size).toBe(0);
  });
});

describe('BrowserAuth.refresh', () => {
  it('sends refresh_token + client_id and returns the rotated token set', async () => {
    const server = await authServer();
    const auth = browserAuth(server.url);
    await expect(auth.refresh('refresh-token-0')).resolves.toEqual({
      accessToken: 'access-token-1',
      refreshToken: 'refresh-token-1',
      expiresAt: NOW + 900_000,
      scope: 'people:read',
    });
    const [req] = server.tokenRequests();
    expect(req!.headers.authorization).toBeUndefined();
    expect(form(req!)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-token-0',
      client_id: CLIENT_ID,
    });
  });

  it('shares one request among concurrent calls with the same refresh token', async () => {
    const server = await authServer({ tokenDelayMs: 100 });
    const auth = browserAuth(server.url);
    const [a, b] = await Promise.all([auth.refresh('refresh-token-0'), auth.refresh('refresh-token-0')]);
    expect(a).toBe(b);
    expect(a.refreshToken).toBe('refresh-token-1');
    expect(server.tokenRequests()).toHaveLength(1);

    // A caller that lost the race by a moment gets the same result instead of a replay.
    await expect(auth.refresh('refresh-token-0')).resolves.toBe(a);
    expect(server.tokenRequests()).toHaveLength(1);

    // A different refresh token is a different request.
    await expect(auth.refresh('refresh-token-1')).resolves.toMatchObject({ refreshToken: 'refresh-token-2' });
    expect(server.tokenRequests()).toHaveLength(2);
  });

  it('stops sharing a finished refresh after 30 s', async () => {
    const server = await authServer();
    let now = NOW;
    const auth = browserAuth(server.url, { now: () => now });
    await auth.refresh('refresh-token-0');
    now += 30_000;
    await auth.refresh('refresh-token-0');
    expect(server.tokenRequests()).toHaveLength(1);
    now += 1;
    await auth.refresh('refresh-token-0');
    expect(server.tokenRequests()).toHaveLength(2);
  });

  it('does not share a failed refresh, and never retries by itself', async () => {
    const server = await authServer({
      token: (_req, res, i) => {
        if (i === 0) json(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': '0' });
        else json(res, 400, { error: 'invalid_grant', error_description: 'refresh token reused' });
      },
    });
    const auth = browserAuth(server.url);
    const first = await rejection(auth.refresh('refresh-token-0'));
    expect(first).not.toBeInstanceOf(AuthError);
    expect(first).toMatchObject({
      status: 503,
      code: 'ERR_AUTH_TEMPORARILY_UNAVAILABLE',
      oauthError: 'temporarily_unavailable',
    });
    expect(server.tokenRequests()).toHaveLength(1);
    const second = await rejection(auth.refresh('refresh-token-0'));
    expect(second).toBeInstanceOf(AuthError);
    expect(second).toMatchObject({
      status: 400,
      code: 'ERR_AUTH_INVALID_GRANT',
      oauthError: 'invalid_grant',
      detail: 'refresh token reused',
    });
    expect(server.tokenRequests()).toHaveLength(2);
  });

  it('rejects an empty refresh token without a request', async () => {
    const server = await authServer();
    await expect(browserAuth(server.url).refresh('')).rejects.toMatchObject({
      code: 'ERR_SDK_INVALID_ARGUMENT',
    });
    expect(server.received).toHaveLength(0);
  });
});

describe('OAuth error mapping', () => {
  const cases: Array<{
    status: number;
    body: string;
    headers?: Record<string, string>;
    cls: typeof CpodError;
    not?: typeof CpodError;
    code: string;
    oauthError?: string;
  }> = [
    {
      status: 400,
      body: '{"error":"invalid_grant"}',
      cls: AuthError,
      code: 'ERR_AUTH_INVALID_GRANT',
      oauthError: 'invalid_grant',
    },
    {
      status: 401,
      body: '{"error":"invalid_client"}',
      cls: AuthError,
      code: 'ERR_AUTH_INVALID_CLIENT',
      oauthError: 'invalid_client',
    },
    {
      status: 400,
      body: '{"error":"unauthorized_client"}',
      cls: AuthError,
      code: 'ERR_AUTH_UNAUTHORIZED_CLIENT',
      oauthError: 'unauthorized_client',
    },
    {
      status: 400,
      body: '{"error":"invalid_scope"}',
      cls: AuthError,
      code: 'ERR_AUTH_INVALID_SCOPE',
      oauthError: 'invalid_scope',
    },
    {
      status: 400,
      body: '{"error":"invalid_request"}',
      cls: ValidationError,
      code: 'ERR_AUTH_INVALID_REQUEST',
      oauthError: 'invalid_request',
    },
    {
      status: 400,
      body: '{"error":"unsupported_grant_type"}',
      cls: ValidationError,
      code: 'ERR_AUTH_UNSUPPORTED_GRANT_TYPE',
      oauthError: 'unsupported_grant_type',
    },
    {
      status: 429,
      body: '{"error":"slow_down"}',
      headers: { 'retry-after': '120' },
      cls: RateLimitError,
      code: 'ERR_AUTH_SLOW_DOWN',
      oauthError: 'slow_down',
    },
    {
      status: 500,
      body: '{"error":"server_error"}',
      cls: CpodError,
      not: AuthError,
      code: 'ERR_AUTH_SERVER_ERROR',
      oauthError: 'server_error',
    },
    { status: 502, body: '<html>bad gateway</html>', cls: CpodError, not: AuthError, code: 'ERR_INTERNAL' },
    { status: 401, body: '', cls: AuthError, code: 'ERR_AUTH_MISSING_TOKEN' },
  ];

  it.each(cases)(
    '$status $body → $cls.name $code',
    async ({ status, body, headers, cls, not, code, oauthError }) => {
      const server = await authServer({
        token: (req, res) => {
          res.writeHead(status, {
            'content-type': body.startsWith('{') ? 'application/json' : 'text/html',
            'x-request-id': 'req-42',
            ...headers,
          });
          // A careless server echoing the refresh token must not leak it into the error.
          res.end(body.replace('}', `,"error_description":"rejected ${form(req).refresh_token}"}`));
        },
      });
      const err = await rejection(browserAuth(server.url).refresh('refresh-token-secret-1'));
      expect(err).toBeInstanceOf(cls);
      if (not) expect(err).not.toBeInstanceOf(not);
      expect(err.name).toBe(cls.name);
      expect(err).toMatchObject({ status, code, requestId: 'req-42' });
      expect(err.oauthError).toBe(oauthError);
      for (const text of printed(err)) expect(text).not.toContain('refresh-token-secret-1');
      if (cls === RateLimitError) expect((err as RateLimitError).retryAfter).toBe(120);
      expect(server.tokenRequests()).toHaveLength(1);
    },
  );

  it('rejects an unusable token response', async () => {
    const bodies = [
      'not json',
      '{"token_type":"Bearer"}',
      '{"access_token":"x","token_type":"mac"}',
      '["access_token"]',
    ];
    const server = await authServer({
      token: (_req, res, i) => res.writeHead(200, { 'content-type': 'application/json' }).end(bodies[i]),
    });
    const auth = browserAuth(server.url);
    for (let i = 0; i < bodies.length; i++) {
      await expect(auth.refresh(`refresh-token-${i}`)).rejects.toMatchObject({
        code: 'ERR_SDK_INVALID_RESPONSE',
      });
    }
  });

  it('reports an unreachable server as ERR_SDK_NETWORK', async () => {
    const server = await authServer();
    await servers.closeAll();
    await expect(browserAuth(server.url).refresh('refresh-token-0')).rejects.toMatchObject({
      status: 0,
      code: 'ERR_SDK_NETWORK',
    });
  });
});

describe('BrowserAuth.logout', () => {
  it('revokes the refresh token first, then the access token, with the right hints', async () => {
    const server = await authServer();
    await browserAuth(server.url).logout({ accessToken: 'access-token-9', refreshToken: 'refresh-token-9' });
    const revocations = server.revocations();
    expect(revocations).toHaveLength(2);
    for (const req of revocations) {
      expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(req.headers.authorization).toBeUndefined();
    }
    expect(revocations.map(form)).toEqual([
      { token: 'refresh-token-9', token_type_hint: 'refresh_token', client_id: CLIENT_ID },
      { token: 'access-token-9', token_type_hint: 'access_token', client_id: CLIENT_ID },
    ]);
  });

  it('revokes only what it is given', async () => {
    const server = await authServer();
    await browserAuth(server.url).logout({ accessToken: 'access-token-9' });
    await browserAuth(server.url).logout({});
    expect(server.revocations().map(form)).toEqual([
      { token: 'access-token-9', token_type_hint: 'access_token', client_id: CLIENT_ID },
    ]);
  });

  it('also revokes what a refresh still in flight returns', async () => {
    const server = await authServer({ tokenDelayMs: 100 });
    const auth = browserAuth(server.url);
    const refreshing: Promise<TokenSet> = auth.refresh('refresh-token-0');
    await auth.logout({ accessToken: 'access-token-0', refreshToken: 'refresh-token-0' });
    await refreshing;
    expect(server.revocations().map((r) => [form(r).token, form(r).token_type_hint])).toEqual([
      ['refresh-token-0', 'refresh_token'],
      ['refresh-token-1', 'refresh_token'],
      ['access-token-0', 'access_token'],
      ['access-token-1', 'access_token'],
    ]);
  });

  it('attempts every revocation and then throws the first failure, without the token', async () => {
    const { url, received } = await servers.listen((req, res) => {
      if (form(req).token_type_hint === 'refresh_token') {
        json(res, 401, {
          error: 'invalid_client',
          error_description: `unknown client for ${form(req).token}`,
        });
      } else json(res, 200, {});
    });
    const err = await rejection(
      browserAuth(url).logout({ accessToken: 'access-token-7', refreshToken: 'refresh-token-7' }),
    );
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 401, code: 'ERR_AUTH_INVALID_CLIENT', oauthError: 'invalid_client' });
    for (const text of printed(err)) expect(text).not.toContain('refresh-token-7');
    expect(received).toHaveLength(2);
  });
});

describe('packaging', () => {
  it('is exported from the package root', () => {
    expect(sdk.BrowserAuth).toBe(BrowserAuth);
    expect(sdk.createPkcePair).toBe(createPkcePair);
    expect(sdk.pkceChallenge).toBe(pkceChallenge);
    expect(sdk.webStorage).toBe(webStorage);
    expect(sdk.memoryStorage).toBe(memoryStorage);
  });

  it('imports nothing that is missing in a browser', () => {
    // Walks the relative imports from browser-auth.ts: each file may import only siblings.
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(new URL(file, import.meta.url), 'utf8');
      const specifiers = [...source.matchAll(/^\s*(?:import|export)[^'"]*?from\s+'([^']+)'/gm)].map(
        (m) => m[1]!,
      );
      for (const specifier of specifiers) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\/[a-z-]+\.js$/);
        visit(specifier.replace(/\.js$/, '.ts'));
      }
      expect(source, file).not.toMatch(/\brequire\(|\bBuffer\.|\bprocess\.|import\(/);
    };
    visit('./browser-auth.ts');
    expect([...seen].sort()).toEqual(['./browser-auth.ts', './errors.ts', './http.ts']);
  });

  it('keeps pending state and refresh tokens out of inspect()', async () => {
    const server = await authServer({ tokenDelayMs: 50 });
    const auth = browserAuth(server.url);
    const state = new URL(await auth.authorizeUrl()).searchParams.get('state')!;
    const refreshing = auth.refresh('refresh-token-0');
    const text = inspect(auth, { depth: 10, showHidden: true });
    expect(text).not.toContain(state);
    expect(text).not.toContain('refresh-token-0');
    await refreshing;
  });
});
