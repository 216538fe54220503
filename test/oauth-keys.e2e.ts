import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppCredentials,
  createApp,
  getToken,
  type Platform,
  startPlatform,
} from './helpers/platform.js';

let platform: Platform;
let app: AppCredentials;

beforeAll(async () => {
  platform = await startPlatform();
  app = await createApp(platform, { tenant_id: 'acme', scopes: ['people:read'] });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

const rotate = (token = platform.adminToken) =>
  fetch(`${platform.controlPlaneUrl}/v1/keys/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
const people = (token: string) =>
  fetch(`${platform.gatewayUrl}/v1/people`, { headers: { authorization: `Bearer ${token}` } });
const jwksKids = async () =>
  (
    (await (await fetch(`${platform.gatewayUrl}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    }
  ).keys.map((k) => k.kid);

describe('signing-key rotation (POST /v1/keys/rotate)', () => {
  it('is admin only', async () => {
    expect((await rotate('not-the-admin-token-0123456789abcdef')).status).toBe(401);
  });

  it('signs new tokens with a new kid at once, keeps old tokens valid, and serves both keys', async () => {
    const before = await getToken(platform, app);
    expect((await people(before)).status).toBe(200);
    const published = await jwksKids();

    const res = await rotate();
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { kid: string; previous_kid: string; jwks_kids: string[] };
    expect(rotated.previous_kid).toBe(decodeProtectedHeader(before).kid);
    // The new key was published before the rotation, so verifiers that cached the JWKS already know it.
    expect(published).toContain(rotated.kid);

    const after = await getToken(platform, app);
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    expect((await people(after)).status).toBe(200);
    expect((await people(before)).status).toBe(200);
    const kids = await jwksKids();
    expect(kids).toContain(rotated.previous_kid);
    expect(kids).toContain(rotated.kid);
    expect(kids).toEqual(rotated.jwks_kids);
  });

  it('rejects a token signed by a key that is not in the JWKS', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const token = await new SignJWT({ client_id: app.client_id, tenant_id: 'acme', scope: 'people:read' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: `removed-${jwk.n?.slice(0, 8)}` })
      .setIssuer(`http://${platform.env.CORESDK_CP_ADDR}`)
      .setAudience('cpod-api')
      .setSubject(app.client_id)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti(crypto.randomUUID())
      .sign(privateKey);
    const res = await people(token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
  });
});
