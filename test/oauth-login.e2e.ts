// Issue 4, items 1-3 and 10 against the running processes (`npm start`'s launcher): users and the
// login page, app registration rules, the authorization code flow with PKCE — all through the
// gateway, as a browser and the SDK would use it. Code expiry (60 s) is proven with an injected
// clock in control-plane/src/oauth/oauth-engine.test.ts ("codes live 60 s") rather than by waiting.
import { BrowserAuth, memoryStorage } from '@cpod/sdk';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  authorizeQuery,
  clientPost,
  exchangeCode,
  gatewayStatus,
  msUntilRejected,
  type OAuthApp,
  openLoginForm,
  PASSWORD,
  pkce,
  postLogin,
  REDIRECT,
  refreshWith,
  registerApp,
  registerUser,
  signIn,
  tokenEvents,
} from './helpers/oauth-flow.js';
import { type Platform, startPlatform } from './helpers/platform.js';

let platform: Platform;
let gw: string;
let web: OAuthApp;

beforeAll(async () => {
  platform = await startPlatform();
  gw = platform.gatewayUrl;
  web = await registerApp(platform, { client_type: 'public' });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

const expectErrorPage = async (res: Response, status = 400) => {
  expect(res.status).toBe(status);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toContain('text/html');
  return res.text();
};

describe('1. users and the login page', () => {
  it('1. users: POST /v1/users is admin only and names the invalid field', async () => {
    const anonymous = await fetch(`${platform.controlPlaneUrl}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant_id: 'acme', email: 'a@example.com', password: PASSWORD }),
    });
    expect(anonymous.status).toBe(401);
    const bad = await admin(platform, '/v1/users', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'acme', email: 'not-an-email', password: PASSWORD }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(await bad.text()).toContain('email');
    const user = await registerUser(platform);
    expect(JSON.stringify(user)).not.toMatch(/argon2|password_hash/);
  });

  it('1. login page: the gateway serves a server-rendered form (email, password, CSRF) that needs no JavaScript', async () => {
    const form = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    expect(form.html).toMatch(/<form method="post" action="\/v1\/oauth\/authorize">/);
    expect(form.html).toMatch(/name="email"/);
    expect(form.html).toMatch(/name="password"/);
    expect(form.fields.csrf_token).toBeTruthy();
    expect(form.html).not.toMatch(/<script/i);
    expect(form.res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(form.res.headers.get('x-frame-options')).toBe('DENY');
    const cookie = form.res.headers.getSetCookie().find((c) => c.startsWith('cpod_csrf=')) ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
  });

  it('1. CSRF: a login post without the form’s cookie, with a tampered field or another form’s cookie is refused (403)', async () => {
    const user = await registerUser(platform);
    const form = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    const other = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    for (const attempt of [
      postLogin(gw, form, user, { cookie: null }),
      postLogin(gw, form, user, { fields: { csrf_token: `${form.fields.csrf_token}x` } }),
      postLogin(gw, form, user, { cookie: other.cookie }),
    ]) {
      await expectErrorPage(await attempt, 403);
    }
    // The untouched form still signs in.
    expect((await postLogin(gw, form, user)).status).toBe(302);
  });

  it('1. login: a wrong password re-renders the form with a generic message and records login_failed', async () => {
    const user = await registerUser(platform);
    const form = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    const wrongPassword = await postLogin(gw, form, { email: user.email, password: 'wrong password 123' });
    const unknownUser = await postLogin(gw, form, { email: 'nobody@example.com', password: PASSWORD });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    const [a, b] = [await wrongPassword.text(), await unknownUser.text()];
    expect(a).toContain('Invalid email or password.');
    expect(b).toContain('Invalid email or password.');
    const failed = await tokenEvents(platform, 'acme', 'login_failed');
    expect(failed.some((e) => e.user_id === user.id && e.client_id === web.client_id)).toBe(true);
    expect(JSON.stringify(failed)).not.toContain('wrong password');
  });

  it('8. login throttling: 10 failed sign-ins for an account → 429 page with Retry-After, even with the right password', async () => {
    const user = await registerUser(platform);
    const form = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    for (let i = 0; i < 10; i++) {
      const res = await postLogin(gw, form, { email: user.email, password: `wrong password ${i}` });
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    const blocked = await postLogin(gw, form, user);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.headers.get('location')).toBeNull();
    // Another account is not locked by this one's failures.
    const other = await registerUser(platform);
    expect((await postLogin(gw, form, other)).status).toBe(302);
  });

  it('1. users belong to a tenant: a user of another tenant cannot sign in to this app', async () => {
    const stranger = await registerUser(platform, 'globex');
    const form = await openLoginForm(gw, authorizeQuery(web, pkce().challenge));
    expect((await postLogin(gw, form, stranger)).status).toBe(401);
  });
});

describe('2. apps: client_type, grant_types and redirect_uris are enforced', () => {
  it('2. a public client gets no secret and may not register or use client_credentials', async () => {
    expect(web.client_secret).toBeUndefined();
    const res = await admin(platform, '/v1/oauth/apps', {
      method: 'POST',
      body: JSON.stringify({
        name: 'spa',
        tenant_id: 'acme',
        client_type: 'public',
        scopes: ['people:read'],
        grant_types: ['client_credentials'],
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('grant_types');
    const token = await clientPost(gw, '/v1/oauth/token', web, { grant_type: 'client_credentials' });
    expect(token.status).toBe(400);
    expect(((await token.json()) as { error: string }).error).toBe('unauthorized_client');
  });

  it('2. redirect URIs must be https (http only on loopback), without fragment; authorization_code needs one', async () => {
    for (const redirect_uris of [
      ['http://app.example.com/cb'],
      ['https://app.example.com/cb#x'],
      ['/cb'],
      [],
    ]) {
      const res = await admin(platform, '/v1/oauth/apps', {
        method: 'POST',
        body: JSON.stringify({
          name: 'web',
          tenant_id: 'acme',
          scopes: ['people:read'],
          grant_types: ['authorization_code'],
          redirect_uris,
        }),
      });
      expect(res.status, JSON.stringify(redirect_uris)).toBe(400);
      expect(await res.text()).toContain('redirect_uris');
    }
  });

  it('2. grant types from registration are enforced: a client_credentials app cannot exchange codes, a code-only app gets no refresh token', async () => {
    const service = await registerApp(platform, { grant_types: ['client_credentials'], redirect_uris: [] });
    const exchanged = await clientPost(gw, '/v1/oauth/token', service, {
      grant_type: 'authorization_code',
      code: 'x',
      redirect_uri: REDIRECT,
      code_verifier: pkce().verifier,
    });
    expect(((await exchanged.json()) as { error: string }).error).toBe('unauthorized_client');
    const codeOnly = await registerApp(platform, { grant_types: ['authorization_code'] });
    const user = await registerUser(platform);
    const { code, verifier } = await signIn(gw, codeOnly, user);
    const { res, body } = await exchangeCode(gw, codeOnly, code, verifier);
    expect(res.status).toBe(200);
    expect(body.refresh_token).toBeUndefined();
    const refreshed = await clientPost(gw, '/v1/oauth/token', codeOnly, {
      grant_type: 'refresh_token',
      refresh_token: 'x',
    });
    expect(((await refreshed.json()) as { error: string }).error).toBe('unauthorized_client');
  });
});

describe('3. authorization code + PKCE (GET /v1/oauth/authorize through the gateway)', () => {
  it('3. PKCE S256 is required for every client: method plain or no challenge is refused (redirect with invalid_request)', async () => {
    const { verifier, challenge } = pkce();
    const cases = [
      { code_challenge_method: 'plain', code_challenge: verifier },
      { code_challenge: undefined, code_challenge_method: undefined },
      { code_challenge_method: undefined, code_challenge: challenge },
    ];
    for (const extra of cases) {
      const res = await fetch(`${gw}/v1/oauth/authorize?${authorizeQuery(web, challenge, extra)}`, {
        redirect: 'manual',
      });
      expect(res.status, JSON.stringify(extra)).toBe(302);
      const location = new URL(res.headers.get('location') ?? '');
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('state')).toBe('st-e2e-123');
      expect(location.searchParams.has('code')).toBe(false);
    }
  });

  it('3. an invalid client_id or redirect_uri shows an error page and never redirects', async () => {
    const { challenge } = pkce();
    const variants = [
      authorizeQuery({ ...web, client_id: 'app_unknown' }, challenge),
      authorizeQuery(web, challenge, { redirect_uri: `${REDIRECT}/evil` }),
      authorizeQuery(web, challenge, { redirect_uri: 'https://app.example.com/callbac' }),
      authorizeQuery(web, challenge, { redirect_uri: `${REDIRECT}?x=1` }),
      authorizeQuery(web, challenge, { redirect_uri: 'https://evil.example/callback' }),
      authorizeQuery(web, challenge, { redirect_uri: undefined }),
    ];
    for (const query of variants) {
      const html = await expectErrorPage(
        await fetch(`${gw}/v1/oauth/authorize?${query}`, { redirect: 'manual' }),
      );
      expect(html).not.toContain('evil.example');
    }
  });

  it('3. redirect_uri matches exactly; only the port of a loopback IP URI may vary (RFC 8252)', async () => {
    const native = await registerApp(platform, {
      client_type: 'public',
      redirect_uris: ['http://127.0.0.1/callback', 'http://localhost:8400/cb'],
    });
    const user = await registerUser(platform);
    const { challenge } = pkce();
    const open = (redirect_uri: string) =>
      fetch(`${gw}/v1/oauth/authorize?${authorizeQuery(native, challenge, { redirect_uri })}`, {
        redirect: 'manual',
      });
    expect((await open('http://127.0.0.1:51234/callback')).status).toBe(200);
    await expectErrorPage(await open('http://127.0.0.1:51234/callback/other'));
    // `localhost` is a name a hosts file can point anywhere: exact match only.
    await expectErrorPage(await open('http://localhost:8401/cb'));
    const { code, verifier, location } = await signIn(gw, native, user, {
      redirect_uri: 'http://127.0.0.1:51234/callback',
    });
    expect(location.origin).toBe('http://127.0.0.1:51234');
    // The exchange must name the very URI the authorization request used.
    const mismatch = await exchangeCode(gw, native, code, verifier, 'http://127.0.0.1/callback');
    expect(mismatch.body.error).toBe('invalid_grant');
  });

  it('3. state comes back unchanged, with the code and iss', async () => {
    const user = await registerUser(platform);
    const state = 'a b+c/d=e&f%g~é';
    const { location } = await signIn(gw, web, user, { state });
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(location.searchParams.get('iss')).toBe(`http://${platform.env.CORESDK_CP_ADDR}`);
  });

  it('3. codes are bound to client, redirect_uri and code_challenge', async () => {
    const user = await registerUser(platform);
    const otherClient = await registerApp(platform, { client_type: 'public' });
    const { code, verifier } = await signIn(gw, web, user);
    expect((await exchangeCode(gw, otherClient, code, verifier)).body.error).toBe('invalid_grant');
    expect((await exchangeCode(gw, web, code, pkce().verifier)).body.error).toBe('invalid_grant');
    expect((await exchangeCode(gw, web, code, verifier, `${REDIRECT}2`)).body.error).toBe('invalid_grant');
  });

  it('3. authorization code: replaying a code fails and revokes every token issued from it', async () => {
    const user = await registerUser(platform);
    const { code, verifier } = await signIn(gw, web, user);
    const first = await exchangeCode(gw, web, code, verifier);
    expect(first.res.status).toBe(200);
    expect(await gatewayStatus(platform, first.body.access_token)).toBe(200);

    const replay = await exchangeCode(gw, web, code, verifier);
    expect(replay.res.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    // The access token from the first exchange reaches the sidecar's revocation list.
    expect(await msUntilRejected(platform, first.body.access_token)).toBeLessThan(1_500);
    const refreshed = await refreshWith(gw, web, first.body.refresh_token ?? '');
    expect(refreshed.body.error).toBe('invalid_grant');
    const revoked = await tokenEvents(platform, 'acme', 'revoked');
    expect(
      revoked.some((e) => (e.detail as Record<string, unknown>)?.reason === 'authorization_code_replay'),
    ).toBe(true);
  });
});

describe('7. lifetimes (default configuration)', () => {
  it('7. lifetimes: access tokens live 1 h by default (exp - iat = expires_in = 3600)', async () => {
    const user = await registerUser(platform);
    const { code, verifier } = await signIn(gw, web, user);
    const { body } = await exchangeCode(gw, web, code, verifier);
    expect(body.expires_in).toBe(3600);
    const claims = decodeJwt(body.access_token);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
  });
});

describe('10. SDK BrowserAuth against the running platform', () => {
  it('10. BrowserAuth: authorize URL with PKCE and state, state verified on the callback, exchange, refresh, logout revokes both', async () => {
    const user = await registerUser(platform);
    const auth = new BrowserAuth({
      baseUrl: gw,
      clientId: web.client_id,
      redirectUri: REDIRECT,
      storage: memoryStorage(),
    });
    const url = new URL(await auth.authorizeUrl());
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const state = url.searchParams.get('state') ?? '';
    expect(state.length).toBeGreaterThanOrEqual(22);

    // A callback with a foreign state is refused and consumes the pending sign-in.
    const form = await openLoginForm(gw, url.searchParams.toString());
    const login = await postLogin(gw, form, user);
    expect(login.status).toBe(302);
    const callback = login.headers.get('location') ?? '';
    const forged = new URL(callback);
    forged.searchParams.set('state', 'attacker-state');
    await expect(auth.handleCallback(forged)).rejects.toMatchObject({ code: 'ERR_AUTH_STATE_MISMATCH' });

    // A fresh sign-in completes.
    const url2 = new URL(await auth.authorizeUrl());
    const login2 = await postLogin(gw, await openLoginForm(gw, url2.searchParams.toString()), user);
    const tokens = await auth.handleCallback(login2.headers.get('location') ?? '');
    expect(decodeJwt(tokens.accessToken).sub).toBe(user.id);
    expect(await gatewayStatus(platform, tokens.accessToken)).toBe(200);

    const refreshed = await auth.refresh(tokens.refreshToken ?? '');
    expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
    expect(await gatewayStatus(platform, refreshed.accessToken)).toBe(200);

    await auth.logout(refreshed);
    expect(await msUntilRejected(platform, refreshed.accessToken)).toBeLessThan(1_500);
    const after = await refreshWith(gw, web, refreshed.refreshToken ?? '');
    expect(after.body.error).toBe('invalid_grant');
    // SDK errors carry the platform code, with the OAuth error beside it.
    await expect(auth.refresh(refreshed.refreshToken ?? '')).rejects.toMatchObject({
      code: 'ERR_AUTH_INVALID_GRANT',
      oauthError: 'invalid_grant',
    });
  });
});
