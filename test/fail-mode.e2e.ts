import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SidecarClient } from '@cpod/sdk';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, getToken } from './helpers/platform.js';
import { type Pair, type Stack, startStack } from './helpers/services.js';

/**
 * CORESDK_FAIL_MODE with the sidecar process SIGKILLed mid-run and started again: closed answers
 * 503 quickly and recovers; open keeps serving valid tokens (and only valid tokens), and once
 * the sidecar is back the audit chain holds one record per request, the outage's marked fail_open.
 */
const DATABASE_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');

const get = (pair: Pair, path: string, token: string) =>
  fetch(`${pair.gatewayUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let failure: unknown;
  while (
    !(await check().catch((err: unknown) => {
      failure = err;
      return false;
    }))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: failure });
    await sleep(200);
  }
}

describe('CORESDK_FAIL_MODE=closed (the default)', () => {
  let stack: Stack;
  let pair: Pair;
  let token: string;

  beforeAll(async () => {
    stack = await startStack();
    pair = stack.pairs[0] as Pair;
    const app = await createApp(stack, { tenant_id: `closed-${run}`, scopes: ['people:read'] });
    token = await getToken(stack, app);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('answers 503 problem+json with Retry-After at once while the sidecar is dead, then recovers', async () => {
    expect((await get(pair, '/v1/people', token)).status).toBe(200);
    await pair.stopSidecar('SIGKILL');

    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const res = await get(pair, '/v1/people', token);
      expect(performance.now() - started).toBeLessThan(1500);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await res.json()).toMatchObject({ status: 503, code: 'ERR_SIDECAR_UNAVAILABLE' });
    }
    // A burst does not pile up behind the dead sidecar either.
    const started = performance.now();
    const burst = await Promise.all(Array.from({ length: 50 }, () => get(pair, '/v1/people', token)));
    expect(burst.map((r) => r.status)).toEqual(Array(50).fill(503));
    expect(performance.now() - started).toBeLessThan(5000);

    const g = await fetch(`${pair.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ people { nodes { id } } }' }),
    });
    expect(g.status).toBe(503);
    expect(g.headers.get('retry-after')).toBeTruthy();
    expect(await g.json()).toMatchObject({ errors: [{ extensions: { code: 'ERR_SIDECAR_UNAVAILABLE' } }] });

    await pair.startSidecar();
    await until('the gateway to reach the restarted sidecar', async () => {
      const res = await get(pair, '/v1/people', token);
      await res.body?.cancel();
      return res.status === 200;
    });
  }, 90_000);
});

describe('CORESDK_FAIL_MODE=open', () => {
  let stack: Stack;
  let pair: Pair;
  let keyDir: string;
  const tenant = `open-${run}`;
  let writer: string;
  let reader: string;

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'cpod-failopen-'));
    stack = await startStack({
      CORESDK_FAIL_MODE: 'open',
      CPOD_DATABASE_URL: DATABASE_URL,
      CORESDK_SIGNING_KEY_PATH: join(keyDir, 'signing-key.json'),
    });
    pair = stack.pairs[0] as Pair;
    const [w, r] = await Promise.all([
      createApp(stack, { tenant_id: tenant, scopes: ['people:read', 'people:write', 'audit:read'] }),
      createApp(stack, { tenant_id: tenant, scopes: ['people:read'] }),
    ]);
    [writer, reader] = await Promise.all([getToken(stack, w), getToken(stack, r)]);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  /** Tokens signed by the real key but invalid, and one signed by an impostor key under the real kid. */
  async function badTokens(): Promise<Record<string, string>> {
    const file = JSON.parse(readFileSync(join(keyDir, 'signing-key.json'), 'utf8')) as {
      keys: Array<{ kid: string; role?: string; privateJwk: Record<string, unknown> }>;
    };
    const current = file.keys.find((k) => k.role === 'current') ?? file.keys.at(-1);
    if (!current) throw new Error('no signing key');
    const realKey = await importJWK(current.privateJwk as never, 'RS256');
    const { privateKey: impostor } = await generateKeyPair('RS256');
    const claims = JSON.parse(Buffer.from(writer.split('.')[1] ?? '', 'base64url').toString());
    const sign = (key: CryptoKey | Uint8Array | object, overrides: Record<string, unknown>) =>
      new SignJWT({ ...claims, ...overrides })
        .setProtectedHeader({ alg: 'RS256', kid: current.kid, typ: 'at+jwt' })
        .sign(key as CryptoKey);
    const now = Math.floor(Date.now() / 1000);
    return {
      forged: await sign(impostor, {}),
      expired: await sign(realKey, { iat: now - 7200, exp: now - 3600 }),
      'wrong audience': await sign(realKey, { aud: 'someone-else' }),
      'too long-lived': await sign(realKey, { iat: now, exp: now + 7200 }),
    };
  }

  it('serves valid tokens from the local check while the sidecar is dead, and audits every request once it is back', async () => {
    const sidecar = new SidecarClient({ address: pair.sidecarAddr });
    const count = async () =>
      (await sidecar.queryAudit({ tenantId: tenant, pageSize: 500 })).records.filter(
        (r) => r.event?.action !== 'audit.read',
      );
    try {
      let requests = 0;
      const expectStatus = async (res: Promise<Response>, status: number) => {
        const r = await res;
        await r.body?.cancel();
        requests++;
        expect(r.status).toBe(status);
      };
      for (let i = 0; i < 3; i++) await expectStatus(get(pair, '/v1/people', writer), 200);
      await until('the records before the outage', async () => {
        const n = (await count()).length;
        if (n !== requests) throw new Error(`${n} of ${requests} records`);
        return true;
      });

      await pair.stopSidecar('SIGKILL');
      const outageStart = requests;
      for (let i = 0; i < 5; i++) await expectStatus(get(pair, '/v1/people', writer), 200);
      const created = await fetch(`${pair.gatewayUrl}/v1/people`, {
        method: 'POST',
        headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Written While Down' }),
      });
      requests++;
      expect(created.status).toBe(201);
      // Without the sidecar the default policy's scope rule still applies: a reader cannot write.
      const denied = await fetch(`${pair.gatewayUrl}/v1/people`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Not Allowed' }),
      });
      requests++;
      expect(denied.status).toBe(403);
      // Fail-open is not "accept anything": every bad token is still refused (audited outside the tenant).
      for (const [name, bad] of Object.entries(await badTokens())) {
        const res = await get(pair, '/v1/people', bad);
        expect(res.status, name).toBe(401);
        expect(res.headers.get('www-authenticate'), name).toContain('invalid_token');
      }
      const outageRequests = requests - outageStart;

      await pair.startSidecar();
      await until('the restarted sidecar to answer', async () => (await sidecar.validateToken(writer)).valid);
      // Past the gateway channel's longest reconnect backoff (2 s), its next call reconnects and
      // waits for the connection instead of failing open.
      await sleep(2500);
      for (let i = 0; i < 2; i++) await expectStatus(get(pair, '/v1/people', writer), 200);

      // The queued events reach the chain: one record per request, nothing lost, nothing doubled.
      await until(`${requests} audit records`, async () => (await count()).length >= requests, 60_000);
      await sleep(1000);
      const records = await count();
      expect(records).toHaveLength(requests);
      const failOpen = records.filter((r) => r.event?.metadata?.fail_open === true);
      expect(failOpen).toHaveLength(outageRequests);
      expect(failOpen.map((r) => r.event?.status).sort()).toEqual(
        [...Array(outageRequests - 2).fill(200), 201, 403].sort(),
      );
      expect((await sidecar.verifyChain(tenant)).valid).toBe(true);
      // One warning for the outage, not one per request.
      expect(pair.gateway.output().split('sidecar unreachable: CORESDK_FAIL_MODE=open').length - 1).toBe(1);
    } finally {
      sidecar.close();
    }
  }, 150_000);
});
