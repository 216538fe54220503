// Issue 4, items 4-8 against the running processes: refresh rotation and replay, revocation and
// introspection, client-secret rotation, scopes and lifetimes, token events and failure
// throttling — through the gateway, and with the gateway's sidecar as the judge of whether a
// token still works. The gateway listens on 0.0.0.0 here so one test can reach it from a
// non-loopback address (per-source throttling behind the gateway).
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { TokenManager } from '@cpod/sdk';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  clientPost,
  exchangeCode,
  gatewayStatus,
  msUntilRejected,
  type OAuthApp,
  refreshWith,
  registerApp,
  registerUser,
  signIn,
  type TokenBody,
  tokenEvents,
  unique,
} from './helpers/oauth-flow.js';
import { freePort, type Platform, ROOT, startPlatform } from './helpers/platform.js';

const ACCESS_TOKEN_TTL = 900;
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

let platform: Platform;
let gw: string;
let web: OAuthApp;
let service: OAuthApp;

beforeAll(async () => {
  const port = await freePort();
  const started = await startPlatform({
    CPOD_GATEWAY_ADDR: `0.0.0.0:${port}`,
    CPOD_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
  });
  gw = `http://127.0.0.1:${port}`;
  platform = { ...started, gatewayUrl: gw };
  [web, service] = await Promise.all([
    registerApp(platform, { client_type: 'public' }),
    registerApp(platform, {
      name: 'billing service',
      scopes: ['people:read', 'people:write'],
      grant_types: ['client_credentials'],
      redirect_uris: [],
    }),
  ]);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

async function signedIn(client = web) {
  const user = await registerUser(platform);
  const { code, verifier } = await signIn(gw, client, user);
  const { res, body } = await exchangeCode(gw, client, code, verifier);
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { user, tokens: body };
}

const clientCredentials = async (client: Pick<OAuthApp, 'client_id' | 'client_secret'>, scope?: string) => {
  const res = await clientPost(gw, '/v1/oauth/token', client, {
    grant_type: 'client_credentials',
    ...(scope ? { scope } : {}),
  });
  return { res, body: (await res.json()) as TokenBody };
};

describe('4. refresh tokens with rotation', () => {
  it('4. refresh rotation: each use returns a new refresh token and the old one stops working', async () => {
    const { tokens } = await signedIn();
    const first = await refreshWith(gw, web, tokens.refresh_token ?? '');
    expect(first.res.status).toBe(200);
    expect(first.body.refresh_token).toMatch(/^cpr_/);
    expect(first.body.refresh_token).not.toBe(tokens.refresh_token);
    expect(await gatewayStatus(platform, first.body.access_token)).toBe(200);
    const second = await refreshWith(gw, web, first.body.refresh_token ?? '');
    expect(second.res.status).toBe(200);
  });

  it('4. refresh replay: presenting a rotated token revokes the whole family, records refresh_replay, and the gateway rejects its access tokens within a second', async () => {
    const { user, tokens } = await signedIn();
    const rotated = await refreshWith(gw, web, tokens.refresh_token ?? '');
    expect(rotated.res.status).toBe(200);
    expect(await gatewayStatus(platform, rotated.body.access_token)).toBe(200);

    const replay = await refreshWith(gw, web, tokens.refresh_token ?? '');
    expect(replay.res.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    const elapsed = await msUntilRejected(platform, rotated.body.access_token);
    expect(elapsed).toBeLessThan(1_500);
    expect(await gatewayStatus(platform, tokens.access_token)).toBe(401);
    // The newest member of the family is dead too.
    expect((await refreshWith(gw, web, rotated.body.refresh_token ?? '')).body.error).toBe('invalid_grant');
    const replays = await tokenEvents(platform, 'acme', 'refresh_replay');
    const event = replays.find((e) => e.user_id === user.id);
    expect(event).toMatchObject({ client_id: web.client_id, tenant_id: 'acme' });
    expect(JSON.stringify(replays)).not.toContain('cpr_');
  });
});

describe('5. revocation and introspection', () => {
  it('5. revoke: an access token revoked through the gateway is rejected within a second', async () => {
    const { body } = await clientCredentials(service);
    expect(await gatewayStatus(platform, body.access_token)).toBe(200);
    const res = await clientPost(gw, '/v1/oauth/revoke', service, { token: body.access_token });
    expect(res.status).toBe(200);
    expect(await msUntilRejected(platform, body.access_token)).toBeLessThan(1_000);
  });

  it('5. revoke: a refresh token revokes its family, including the access tokens issued from it', async () => {
    const { tokens } = await signedIn();
    const rotated = await refreshWith(gw, web, tokens.refresh_token ?? '');
    const res = await clientPost(gw, '/v1/oauth/revoke', web, {
      token: rotated.body.refresh_token ?? '',
      token_type_hint: 'refresh_token',
    });
    expect(res.status).toBe(200);
    expect((await refreshWith(gw, web, rotated.body.refresh_token ?? '')).body.error).toBe('invalid_grant');
    expect(await msUntilRejected(platform, rotated.body.access_token)).toBeLessThan(1_500);
  });

  it('5. revocation made on the control plane directly (not through this gateway) reaches the gateway too', async () => {
    const { body } = await clientCredentials(service);
    const res = await clientPost(platform.controlPlaneUrl, '/v1/oauth/revoke', service, {
      token: body.access_token,
    });
    expect(res.status).toBe(200);
    expect(await msUntilRejected(platform, body.access_token)).toBeLessThan(1_500);
  });

  it('5. introspect (through the gateway): confidential clients learn about their own tokens; public clients may not ask', async () => {
    const { body } = await clientCredentials(service, 'people:read');
    const active = await clientPost(gw, '/v1/oauth/introspect', service, { token: body.access_token });
    expect(active.status).toBe(200);
    expect(await active.json()).toMatchObject({
      active: true,
      client_id: service.client_id,
      scope: 'people:read',
      tenant_id: 'acme',
    });
    const other = await registerApp(platform, { grant_types: ['client_credentials'], redirect_uris: [] });
    const foreign = await clientPost(gw, '/v1/oauth/introspect', other, { token: body.access_token });
    expect(await foreign.json()).toEqual({ active: false });
    await clientPost(gw, '/v1/oauth/revoke', service, { token: body.access_token });
    const revoked = await clientPost(gw, '/v1/oauth/introspect', service, { token: body.access_token });
    expect(await revoked.json()).toEqual({ active: false });
    const fromPublic = await clientPost(gw, '/v1/oauth/introspect', web, { token: body.access_token });
    expect(fromPublic.status).toBe(401);
  });
});

describe('6. client-secret rotation', () => {
  const rotate = (clientId: string, body?: unknown) =>
    admin(platform, `/v1/oauth/apps/${clientId}/rotate-secret`, {
      method: 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('6. rotate-secret: the new secret is shown once and the old one stops working at once', async () => {
    const app = await registerApp(platform, { grant_types: ['client_credentials'], redirect_uris: [] });
    // Through the SDK, as a service would: a cached token, then a fresh grant after rotation.
    const before = new TokenManager({
      baseUrl: gw,
      clientId: app.client_id,
      clientSecret: app.client_secret ?? '',
    });
    expect(await gatewayStatus(platform, await before.getToken())).toBe(200);
    const res = await rotate(app.client_id);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { client_secret } = (await res.json()) as { client_secret: string };
    expect(client_secret).toMatch(/^cps_/);
    before.invalidate();
    await expect(before.getToken()).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID_CLIENT', status: 401 });
    const after = new TokenManager({ baseUrl: gw, clientId: app.client_id, clientSecret: client_secret });
    expect(await gatewayStatus(platform, await after.getToken())).toBe(200);
    const listed = await (await admin(platform, `/v1/oauth/apps/${app.client_id}`)).text();
    expect(listed).not.toContain(client_secret);
    expect(listed).not.toContain('secret_hash');
  });

  it('6. rotate-secret with grace_period_seconds: the old secret keeps working for the bounded period', async () => {
    const app = await registerApp(platform, { grant_types: ['client_credentials'], redirect_uris: [] });
    const res = await rotate(app.client_id, { grace_period_seconds: 3600 });
    const body = (await res.json()) as { client_secret: string; previous_secret_expires_at: string };
    expect(Date.parse(body.previous_secret_expires_at)).toBeGreaterThan(Date.now() + 3_500_000);
    expect((await clientCredentials(app)).res.status).toBe(200);
    expect((await clientCredentials({ ...app, client_secret: body.client_secret })).res.status).toBe(200);
    // Ending the grace early: rotate again without one, and neither earlier secret works.
    const again = (await (await rotate(app.client_id)).json()) as { client_secret: string };
    expect((await clientCredentials(app)).res.status).toBe(401);
    expect((await clientCredentials({ ...app, client_secret: body.client_secret })).res.status).toBe(401);
    expect((await clientCredentials({ ...app, client_secret: again.client_secret })).res.status).toBe(200);
    const tooLong = await rotate(app.client_id, { grace_period_seconds: 86_401 });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain('grace_period_seconds');
  });
});

describe('7. scopes and lifetimes', () => {
  it('7. scopes: a token’s scopes are a subset of the app’s declared scopes (invalid_scope otherwise)', async () => {
    const narrowed = await clientCredentials(service, 'people:read');
    expect(narrowed.body.scope).toBe('people:read');
    expect(decodeJwt(narrowed.body.access_token).scope).toBe('people:read');
    const everything = await clientCredentials(service);
    expect(everything.body.scope.split(' ').sort()).toEqual(['people:read', 'people:write']);
    const beyond = await clientCredentials(service, 'people:read audit:read');
    expect(beyond.res.status).toBe(400);
    expect(beyond.body.error).toBe('invalid_scope');
    // Refresh may narrow but never widen.
    const { tokens } = await signedIn();
    expect((await refreshWith(gw, web, tokens.refresh_token ?? '', 'audit:read')).body.error).toBe(
      'invalid_scope',
    );
  });

  it('7. lifetimes: CPOD_ACCESS_TOKEN_TTL shortens access tokens; above 3600 s the platform refuses to start', async () => {
    const { body } = await clientCredentials(service);
    expect(body.expires_in).toBe(ACCESS_TOKEN_TTL);
    const claims = decodeJwt(body.access_token);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(ACCESS_TOKEN_TTL);
    const refused = spawnSync(process.execPath, [join(ROOT, 'control-plane/dist/bin.js')], {
      env: { PATH: process.env.PATH ?? '', CPOD_ACCESS_TOKEN_TTL: '7200', CORESDK_CP_ADDR: '127.0.0.1:0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('CPOD_ACCESS_TOKEN_TTL');
  });
});

describe('8. token events and throttling', () => {
  it('8. token events: issued, refreshed, revoked and client_auth_failed are stored without secrets and listed for admins only', async () => {
    const { tokens } = await signedIn();
    await refreshWith(gw, web, tokens.refresh_token ?? '');
    await clientPost(gw, '/v1/oauth/revoke', web, { token: tokens.access_token });
    await clientCredentials({ ...service, client_secret: 'cps_wrong' });
    const all = await tokenEvents(platform, 'acme');
    const types = new Set(all.map((e) => e.type));
    for (const type of ['issued', 'refreshed', 'revoked', 'client_auth_failed'])
      expect(types).toContain(type);
    const text = JSON.stringify(all);
    expect(text).not.toContain(tokens.access_token);
    expect(text).not.toContain('cps_');
    const anonymous = await fetch(`${platform.controlPlaneUrl}/v1/token-events?tenant_id=acme`);
    expect(anonymous.status).toBe(401);
  });

  it('8. throttling per client: 10 failed client authentications → 429 with Retry-After, even with the right secret', async () => {
    const victim = await registerApp(platform, { grant_types: ['client_credentials'], redirect_uris: [] });
    for (let i = 0; i < 10; i++) {
      expect((await clientCredentials({ ...victim, client_secret: `cps_guess_${i}` })).res.status).toBe(401);
    }
    const blocked = await clientCredentials(victim);
    expect(blocked.res.status).toBe(429);
    expect(Number(blocked.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.body.error).toBe('invalid_request');
  });

  it.skipIf(!externalAddress)(
    '8. throttling per source address behind the gateway: the gateway forwards the real peer, and a spoofed X-Forwarded-For changes nothing',
    async () => {
      const external = `http://${externalAddress}:${new URL(gw).port}`;
      const guess = (headers: Record<string, string> = {}) =>
        clientPost(
          external,
          '/v1/oauth/token',
          { client_id: unique('app_nobody'), client_secret: 'x' },
          {
            grant_type: 'client_credentials',
          },
          headers,
        );
      for (let i = 0; i < 10; i++) expect((await guess()).status).toBe(401);
      const blocked = await guess({ 'x-forwarded-for': '203.0.113.9' });
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // A valid client from this address is refused too; the loopback address is another source.
      expect(
        (await clientPost(external, '/v1/oauth/token', service, { grant_type: 'client_credentials' })).status,
      ).toBe(429);
      expect((await clientCredentials(service)).res.status).toBe(200);
      const failures = await tokenEvents(platform, '_platform', 'client_auth_failed');
      expect(failures.some((e) => e.ip === externalAddress)).toBe(true);
      expect(failures.some((e) => e.ip === '203.0.113.9')).toBe(false);
    },
  );

  it('8. CORS through the gateway: a public app’s origin may call token and revoke; other origins may not', async () => {
    const preflight = (origin: string) =>
      fetch(`${gw}/v1/oauth/token`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    const ok = await preflight('https://app.example.com');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const { tokens } = await signedIn();
    const refreshed = await clientPost(
      gw,
      '/v1/oauth/token',
      web,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' },
      { origin: 'https://app.example.com' },
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});
