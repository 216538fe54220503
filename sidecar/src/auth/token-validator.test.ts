import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryKeyValue } from '@cpod/runtime';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { revocationKey, TokenValidator } from './token-validator.js';

const ISSUER = 'http://127.0.0.1:8080';
const AUDIENCE = 'cpod-api';
let privateKey: CryptoKey;
let localKeys: JWTVerifyGetKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' };
  localKeys = createLocalJWKSet({ keys: [jwk] });
});

function token(claims: Record<string, unknown> = {}, lifetime = 600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant_id: 'acme', client_id: 'app_1', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('app_1')
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(crypto.randomUUID())
    .sign(privateKey);
}

/** A validator whose every signature check is counted. */
function validator(cacheSize?: number) {
  const lookups = { count: 0 };
  const keys: JWTVerifyGetKey = (header, input) => {
    lookups.count++;
    return localKeys(header, input);
  };
  const revocations = createMemoryKeyValue();
  const v = new TokenValidator({
    jwksUri: 'http://127.0.0.1:9/unused',
    issuer: ISSUER,
    audience: AUDIENCE,
    revocations,
    keys,
    cacheSize,
  });
  return { v, lookups, revocations };
}

describe('TokenValidator cache', () => {
  it('checks a repeated token signature only once', async () => {
    const { v, lookups } = validator();
    const t = await token();
    for (let i = 0; i < 5; i++) expect((await v.validate(t)).valid).toBe(true);
    expect(lookups.count).toBe(1);
    expect(v.cacheStats).toEqual({ hits: 4, misses: 1, size: 1 });
  });

  it('rejects a cached token at once when it is revoked', async () => {
    const { v, revocations } = validator();
    const t = await token({}, 600);
    const first = await v.validate(t);
    expect(first.valid).toBe(true);
    if (!first.valid) return;
    await revocations.set(revocationKey(String(first.claims.jti)), '1', { ttlMs: 60_000 });
    expect(await v.validate(t)).toMatchObject({ valid: false, reason: 'revoked' });
  });

  it('never caches a rejected token, and an edited token misses the cache', async () => {
    const { v, lookups } = validator();
    const t = await token();
    expect((await v.validate(t)).valid).toBe(true);
    const [h, p, s] = t.split('.');
    const edited = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p ?? '', 'base64url').toString()), tenant_id: 'globex' })).toString('base64url')}.${s}`;
    expect(await v.validate(edited)).toMatchObject({ valid: false, reason: 'bad_signature' });
    expect(await v.validate(edited)).toMatchObject({ valid: false, reason: 'bad_signature' });
    expect(lookups.count).toBe(3);
  });

  it('re-verifies once the cached token has expired', async () => {
    const { v, lookups } = validator();
    const t = await token({}, 1);
    expect((await v.validate(t)).valid).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    // Inside the 60 s skew the token is still valid, but the cache no longer vouches for it.
    expect((await v.validate(t)).valid).toBe(true);
    expect(lookups.count).toBe(2);
  });

  it('evicts the oldest entry beyond its size and can be switched off', async () => {
    const small = validator(2);
    const [a, b, c] = await Promise.all([token(), token(), token()]);
    for (const t of [a, b, c, a]) await small.v.validate(t);
    expect(small.lookups.count).toBe(4);
    expect(small.v.cacheStats.size).toBe(2);
    const off = validator(0);
    await off.v.validate(a);
    await off.v.validate(a);
    expect(off.lookups.count).toBe(2);
  });
});

describe('TokenValidator JWKS refetch', () => {
  it('fetches the JWKS once for a burst of tokens with an unknown kid (no thundering herd)', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const other = { ...(await exportJWK(pair.publicKey)), kid: 'other', alg: 'RS256' };
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [other] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const v = new TokenValidator({
        jwksUri: `http://127.0.0.1:${port}/jwks`,
        issuer: ISSUER,
        audience: AUDIENCE,
        revocations: createMemoryKeyValue(),
      });
      // Signed with k1, which the JWKS does not hold: every token misses.
      const tokens = await Promise.all(Array.from({ length: 50 }, () => token()));
      const results = await Promise.all(tokens.map((t) => v.validate(t)));
      for (const r of results) expect(r).toMatchObject({ valid: false, reason: 'unknown_key' });
      const again = await v.validate(await token());
      expect(again).toMatchObject({ valid: false, reason: 'unknown_key' });
      expect(fetches).toBe(1);
    } finally {
      server.close();
    }
  });
});
