import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryKeyValue } from '@cpod/runtime';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenValidator } from './token-validator.js';

const ISSUER = 'http://127.0.0.1:8080';
const AUDIENCE = 'cpod-api';

async function keyPair(kid: string) {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' };
  const sign = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tenant_id: 'acme', client_id: 'app_1' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('app_1')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti(crypto.randomUUID())
      .sign(pair.privateKey);
  };
  return { jwk, sign };
}

/** A JWKS endpoint whose key list and health the test changes; counts every fetch. */
async function jwksServer() {
  const state = { keys: [] as JWK[], failing: false, fetches: 0 };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    if (state.failing) {
      res.statusCode = 503;
      res.end('down');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return { state, uri: `http://127.0.0.1:${port}/jwks` };
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function validator(uri: string, cooldownMs: number) {
  const fetched: string[] = [];
  const v = new TokenValidator({
    jwksUri: uri,
    jwksCooldownMs: cooldownMs,
    onJwksFetch: (result) => fetched.push(result),
    issuer: ISSUER,
    audience: AUDIENCE,
    revocations: createMemoryKeyValue(),
  });
  return { v, fetched };
}

describe('JWKS cache', () => {
  it('picks up a rotated key after the cooldown, with one fetch for a concurrent burst', async () => {
    const { state, uri } = await jwksServer();
    const oldKey = await keyPair('old');
    const newKey = await keyPair('new');
    state.keys = [oldKey.jwk];
    const { v, fetched } = validator(uri, 300);
    expect((await v.validate(await oldKey.sign())).valid).toBe(true);
    state.keys = [oldKey.jwk, newKey.jwk];
    // Within the cooldown the new kid is unknown and the issuer is not asked again.
    expect(await v.validate(await newKey.sign())).toMatchObject({ valid: false, reason: 'unknown_key' });
    expect(state.fetches).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    const burst = await Promise.all(Array.from({ length: 20 }, () => newKey.sign()));
    const results = await Promise.all(burst.map((t) => v.validate(t)));
    expect(results.every((r) => r.valid)).toBe(true);
    expect(state.fetches).toBe(2);
    expect(fetched).toEqual(['success', 'success']);
  });

  it('fails closed (an error, not a verdict) when the JWKS cannot be fetched, and counts the failure', async () => {
    const { state, uri } = await jwksServer();
    state.failing = true;
    const key = await keyPair('k');
    const { v, fetched } = validator(uri, 300);
    await expect(v.validate(await key.sign())).rejects.toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE' });
    // Right after a failure the issuer is not asked again by the next caller.
    await expect(v.validate(await key.sign())).rejects.toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE' });
    expect(state.fetches).toBe(1);
    expect(fetched).toEqual(['failure']);
    state.failing = false;
    state.keys = [key.jwk];
    await new Promise((r) => setTimeout(r, 1050));
    expect((await v.validate(await key.sign())).valid).toBe(true);
    expect(fetched).toEqual(['failure', 'success']);
  });

  it('keeps verifying with the known keys while a refetch for an unknown kid fails', async () => {
    const { state, uri } = await jwksServer();
    const key = await keyPair('k');
    state.keys = [key.jwk];
    const { v, fetched } = validator(uri, 100);
    const token = await key.sign();
    expect((await v.validate(token)).valid).toBe(true);
    state.failing = true;
    await new Promise((r) => setTimeout(r, 150));
    const stranger = await keyPair('stranger');
    await expect(v.validate(await stranger.sign())).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_UNAVAILABLE',
    });
    expect((await v.validate(await key.sign())).valid).toBe(true);
    expect(fetched).toEqual(['success', 'failure']);
  });
});
