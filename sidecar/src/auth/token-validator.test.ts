import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryKeyValue } from '@cpod/runtime';
import {
  createLocalJWKSet,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTVerifyGetKey,
  SignJWT,
} from 'jose';
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

describe('TokenValidator rejection paths', () => {
  // One key per algorithm, all in the JWKS, so only the algorithm rule can refuse RS384.
  const signers = new Map<string, CryptoKey>();
  let publicPem: string;
  let keys: JWTVerifyGetKey;
  const ISSUED = { iss: ISSUER, aud: AUDIENCE, sub: 'app_1', client_id: 'app_1', tenant_id: 'acme' };

  beforeAll(async () => {
    const jwks = [];
    for (const alg of ['RS256', 'ES256', 'PS256', 'RS384']) {
      const pair = await generateKeyPair(alg, { extractable: true });
      signers.set(alg, pair.privateKey as CryptoKey);
      jwks.push({ ...(await exportJWK(pair.publicKey)), kid: alg, alg });
      if (alg === 'RS256') publicPem = await exportSPKI(pair.publicKey as CryptoKey);
    }
    keys = createLocalJWKSet({ keys: jwks });
  });

  const make = () =>
    new TokenValidator({ issuer: ISSUER, audience: AUDIENCE, revocations: createMemoryKeyValue(), keys });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = () => Math.floor(Date.now() / 1000);

  /** A token that is valid unless the overrides break it. */
  function sign(
    claims: Record<string, unknown> = {},
    header: { alg?: string; kid?: string; typ?: string } = {},
  ): Promise<string> {
    const alg = header.alg ?? 'RS256';
    const t = now();
    const payload = { ...ISSUED, iat: t, exp: t + 600, jti: crypto.randomUUID(), ...claims };
    for (const [k, v] of Object.entries(payload))
      if (v === undefined) delete payload[k as keyof typeof payload];
    return new SignJWT(payload)
      .setProtectedHeader({ alg, kid: header.kid ?? alg, typ: header.typ ?? 'at+jwt' })
      .sign(signers.get(alg) as CryptoKey);
  }

  const reasonOf = async (t: string) => {
    const r = await make().validate(t);
    return r.valid ? 'valid' : r.reason;
  };

  it('accepts a well-formed token in each allowed algorithm', async () => {
    for (const alg of ['RS256', 'ES256', 'PS256'])
      expect(await reasonOf(await sign({}, { alg })), alg).toBe('valid');
  });

  it('refuses alg none, HS256 keyed with the public key, and an asymmetric algorithm not on the list', async () => {
    const [, payload] = (await sign()).split('.') as [string, string, string];
    expect(await reasonOf(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`)).toBe(
      'unsupported_algorithm',
    );
    const hsHeader = b64({ alg: 'HS256', typ: 'at+jwt', kid: 'RS256' });
    const hsSig = createHmac('sha256', publicPem).update(`${hsHeader}.${payload}`).digest('base64url');
    expect(await reasonOf(`${hsHeader}.${payload}.${hsSig}`)).toBe('unsupported_algorithm');
    expect(await reasonOf(await sign({}, { alg: 'RS384' }))).toBe('unsupported_algorithm');
  });

  it('refuses a wrong typ, issuer or audience; accepts an audience list that contains ours', async () => {
    expect(await reasonOf(await sign({}, { typ: 'JWT' }))).toBe('wrong_type');
    expect(await reasonOf(await sign({ iss: 'https://evil.example' }))).toBe('wrong_issuer');
    expect(await reasonOf(await sign({ aud: 'someone-else' }))).toBe('wrong_audience');
    expect(await reasonOf(await sign({ aud: ['someone-else', AUDIENCE] }))).toBe('valid');
  });

  it('allows 60 s of clock skew on exp, nbf and iat, and no more', async () => {
    const t = now();
    expect(await reasonOf(await sign({ iat: t - 600, exp: t - 30 }))).toBe('valid');
    expect(await reasonOf(await sign({ iat: t - 600, exp: t - 90 }))).toBe('expired');
    expect(await reasonOf(await sign({ nbf: t + 30 }))).toBe('valid');
    expect(await reasonOf(await sign({ nbf: t + 120 }))).toBe('not_yet_valid');
    expect(await reasonOf(await sign({ iat: t + 30, exp: t + 600 }))).toBe('valid');
    expect(await reasonOf(await sign({ iat: t + 120, exp: t + 600 }))).toBe('not_yet_valid');
  });

  it('refuses a lifetime over one hour', async () => {
    const t = now();
    expect(await reasonOf(await sign({ iat: t, exp: t + 3600 }))).toBe('valid');
    expect(await reasonOf(await sign({ iat: t, exp: t + 3601 }))).toBe('lifetime_too_long');
  });

  it('refuses missing exp, iat, jti or tenant_id', async () => {
    for (const claim of ['exp', 'iat', 'jti']) {
      expect(await reasonOf(await sign({ [claim]: undefined })), claim).toBe('invalid_claims');
    }
    expect(await reasonOf(await sign({ tenant_id: undefined }))).toBe('missing_tenant');
  });

  it('refuses a revoked jti, and only that one', async () => {
    const revocations = createMemoryKeyValue();
    await revocations.set(revocationKey('jti-revoked'), '1', { ttlMs: 60_000 });
    const v = new TokenValidator({ issuer: ISSUER, audience: AUDIENCE, revocations, keys });
    expect(await v.validate(await sign({ jti: 'jti-revoked' }))).toMatchObject({
      valid: false,
      reason: 'revoked',
    });
    expect((await v.validate(await sign({ jti: 'jti-other' }))).valid).toBe(true);
  });

  it('refuses an unknown kid, an edited payload and an edited header', async () => {
    expect(await reasonOf(await sign({}, { kid: 'nobody' }))).toBe('unknown_key');
    const [header, payload, signature] = (await sign()).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    expect(await reasonOf(`${header}.${b64({ ...claims, tenant_id: 'globex' })}.${signature}`)).toBe(
      'bad_signature',
    );
    expect(await reasonOf(`${header}.${b64({ ...claims, scope: 'audit:read' })}.${signature}`)).toBe(
      'bad_signature',
    );
    const h = JSON.parse(Buffer.from(header, 'base64url').toString());
    expect(await reasonOf(`${b64({ ...h, cty: 'edited' })}.${payload}.${signature}`)).toBe('bad_signature');
    expect(await reasonOf('not.a.jwt')).toBe('malformed');
    expect(await reasonOf('')).toBe('malformed');
  });
});
