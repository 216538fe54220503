import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CheckRateLimitDocument, CpodClient } from '@cpod/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppCredentials, createApp, freePort, getToken } from './helpers/platform.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { type Pair, type Stack, startStack } from './helpers/services.js';

/**
 * Rate limits across real processes: two gateway + sidecar pairs share one Redis (and one
 * PostgreSQL), as two replicas would. Tenants are unique per run because the Redis is shared
 * with other runs.
 */
const REDIS_URL = process.env.CPOD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');
const tenant = (name: string) => `rl-${name}-${run}`;

let stack: Stack;
let a: string;
let b: string;

beforeAll(async () => {
  stack = await startStack({ CPOD_REDIS_URL: REDIS_URL, CPOD_DATABASE_URL: DATABASE_URL }, { pairs: 2 });
  [a, b] = stack.pairs.map((p) => p.gatewayUrl) as [string, string];
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const get = (base: string, path: string, token: string) =>
  fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

const post = (base: string, path: string, token: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const gql = (base: string, token: string, query: string, variables?: unknown) =>
  post(base, '/graphql', token, { query, variables });

const CHECK = `mutation ($input: CheckRateLimitInput!) {
  checkRateLimit(input: $input) { allowed limit remaining resetAt retryAfterSeconds }
}`;

async function app(
  name: string,
  scopes: string[],
  rateLimit?: { capacity: number; refill_per_second: number },
) {
  const creds = await createApp(stack, {
    tenant_id: tenant(name),
    scopes,
    ...(rateLimit ? { rate_limit: rateLimit } : {}),
  });
  return { creds, token: await getToken(stack, creds) };
}

describe('the request bucket per tenant + client', () => {
  it('sends RateLimit-* headers, then 429 with Retry-After on REST and extensions on GraphQL', async () => {
    const { token } = await app('headers', ['people:read'], { capacity: 3, refill_per_second: 0.05 });
    const first = await get(a, '/v1/people', token);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('3');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    // One token refills in 20 s at 0.05/s.
    expect(Number(first.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(19);
    expect((await get(b, '/v1/people', token)).headers.get('ratelimit-remaining')).toBe('1');
    expect((await get(a, '/v1/people', token)).status).toBe(200);

    const refused = await get(b, '/v1/people', token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(await refused.json()).toMatchObject({ status: 429, code: 'ERR_RATE_LIMITED' });

    const g = await gql(a, token, '{ people { nodes { id } } }');
    expect(g.status).toBe(429);
    expect(g.headers.get('retry-after')).toBeTruthy();
    const body = (await g.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]?.extensions).toMatchObject({
      code: 'ERR_RATE_LIMITED',
      rateLimit: { limit: 3, remaining: 0, retryAfter: expect.any(Number), reset: expect.any(Number) },
    });
  });

  it('uses the platform default for an app registered without a limit', async () => {
    const { token } = await app('default', ['people:read']);
    const res = await get(a, '/v1/people', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('100');
  });

  it('enforces one global limit across both pairs: allowed <= capacity + refill x elapsed', async () => {
    const capacity = 20;
    const refill = 4;
    const { token } = await app('global', ['people:read'], { capacity, refill_per_second: refill });
    const started = performance.now();
    const statuses = { a: [] as number[], b: [] as number[] };
    // Two clients, one per replica, each sending as fast as its gateway answers, for 3 s.
    await Promise.all(
      (['a', 'b'] as const).map(async (side) => {
        const base = side === 'a' ? a : b;
        while (performance.now() - started < 3000) {
          const res = await get(base, '/v1/people?first=1', token);
          await res.body?.cancel();
          statuses[side].push(res.status);
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const allowed = [...statuses.a, ...statuses.b].filter((s) => s === 200).length;
    const refused = [...statuses.a, ...statuses.b].filter((s) => s === 429).length;
    expect(refused).toBeGreaterThan(0);
    expect(allowed).toBeGreaterThanOrEqual(capacity);
    // Separate buckets per replica would allow about twice this.
    expect(allowed).toBeLessThanOrEqual(capacity + refill * elapsed);
    expect(statuses.a.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.b.filter((s) => s === 200).length).toBeGreaterThan(0);
  }, 60_000);
});

describe('custom keys', () => {
  let writer: { creds: AppCredentials; token: string };

  beforeAll(async () => {
    writer = await app('custom', ['rate_limits:write']);
  });

  it('REST, GraphQL and the SDK take from one bucket per key, shared by the replicas', async () => {
    const key = 'user:42:export';
    const input = { key, limit: 3, windowSeconds: 3600 };
    const rest = await post(a, '/v1/rate-limits/check', writer.token, input);
    expect(rest.status).toBe(200);
    const first = (await rest.json()) as Record<string, unknown>;
    expect(first).toMatchObject({ allowed: true, limit: 3, remaining: 2, retryAfterSeconds: 0 });
    // A full refill of 1 token takes 1200 s at 3 per hour.
    const resetIn = Date.parse(String(first.resetAt)) - Date.now();
    expect(resetIn).toBeGreaterThan(1_100_000);
    expect(resetIn).toBeLessThanOrEqual(1_201_000);

    const g = (await (await gql(b, writer.token, CHECK, { input })).json()) as {
      data: { checkRateLimit: Record<string, unknown> };
    };
    expect(g.data.checkRateLimit).toMatchObject({ allowed: true, remaining: 1 });

    const client = new CpodClient({
      baseUrl: a,
      clientId: writer.creds.client_id,
      clientSecret: writer.creds.client_secret,
    });
    const third = await client.checkRateLimit(key, 3, 3600);
    expect(third).toMatchObject({ allowed: true, remaining: 0 });
    expect(third.resetAt).toBeInstanceOf(Date);
    const typed = await client.graphql.execute(CheckRateLimitDocument, { input });
    expect(typed.checkRateLimit).toMatchObject({ allowed: false, remaining: 0 });
    expect(typed.checkRateLimit.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // A refused check is an answer, not an error.
    expect(await client.checkRateLimit(key, 3, 3600)).toMatchObject({ allowed: false });
  });

  it('namespaces keys by the token tenant', async () => {
    const key = `shared-${run}`;
    const input = { key, limit: 1, windowSeconds: 60 };
    expect(await (await post(a, '/v1/rate-limits/check', writer.token, input)).json()).toMatchObject({
      allowed: true,
    });
    expect(await (await post(b, '/v1/rate-limits/check', writer.token, input)).json()).toMatchObject({
      allowed: false,
    });
    // Same key, another tenant: its own bucket, even with a tenant smuggled into the body.
    const other = await app('other', ['rate_limits:write']);
    const res = await post(a, '/v1/rate-limits/check', other.token, {
      ...input,
      tenant_id: tenant('custom'),
    });
    expect(await res.json()).toMatchObject({ allowed: true });
  });

  it('needs scope rate_limits:write', async () => {
    const { token } = await app('noscope', ['people:read']);
    const res = await post(a, '/v1/rate-limits/check', token, { key: 'k', limit: 1, windowSeconds: 1 });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'ERR_POLICY_DENIED' });
  });

  it.each([
    [{ key: 'has space', limit: 1, windowSeconds: 1 }, 'key'],
    [{ key: 'x'.repeat(201), limit: 1, windowSeconds: 1 }, 'key'],
    [{ key: 'k', limit: 0, windowSeconds: 1 }, 'limit'],
    [{ key: 'k', limit: 1, windowSeconds: 0 }, 'windowSeconds'],
    [{ key: 'k', limit: 1, windowSeconds: 86_401 }, 'windowSeconds'],
    [{ key: 'k', limit: 1 }, 'windowSeconds'],
    [{ key: 'k', limit: 'ten', windowSeconds: 1 }, 'limit'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const res = await post(a, '/v1/rate-limits/check', writer.token, body);
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { code: string; detail: string; field?: string };
    expect(problem.code).toBe('ERR_VALIDATION_FAILED');
    expect(`${problem.field ?? ''} ${problem.detail}`).toContain(field);
  });
});

describe.each(['closed', 'open'] as const)('Redis killed under CORESDK_FAIL_MODE=%s', (failMode) => {
  let redis: RedisServer;
  let own: Stack;
  let pair: Pair;
  let token: string;

  beforeAll(async () => {
    redis = await startRedisServer(await freePort());
    own = await startStack({ CPOD_REDIS_URL: redis.url, CORESDK_FAIL_MODE: failMode });
    pair = own.pairs[0] as Pair;
    const creds = await createApp(own, {
      tenant_id: tenant(`outage-${failMode}`),
      scopes: ['people:read'],
      rate_limit: { capacity: 3, refill_per_second: 0.01 },
    });
    token = await getToken(own, creds);
  }, 180_000);

  afterAll(async () => {
    await own?.stop();
    await redis?.kill();
  });

  const metric = async (labels: string) => {
    const text = await (await fetch(`${pair.metricsUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`cpod_sidecar_kv_unavailable_total${labels} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };

  it(failMode === 'closed'
    ? 'answers 503 with Retry-After, then recovers'
    : 'limits per process, then goes back to Redis', async () => {
    expect((await get(pair.gatewayUrl, '/v1/people', token)).headers.get('ratelimit-remaining')).toBe('2');
    await redis.kill();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      const res = await get(pair.gatewayUrl, '/v1/people', token);
      expect(performance.now() - started).toBeLessThan(1500);
      statuses.push(res.status);
      if (failMode === 'closed') {
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      } else if (res.status === 200) {
        expect(res.headers.get('ratelimit-limit')).toBe('3');
      }
      await res.body?.cancel();
    }
    if (failMode === 'closed') {
      expect(statuses).toEqual([503, 503, 503, 503]);
      expect(await metric('{check="revocation",mode="closed"}')).toBeGreaterThanOrEqual(4);
    } else {
      // A fresh in-process bucket with the app's limit: limited, not unlimited.
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(await metric('{check="rate_limit",mode="open"}')).toBe(4);
      expect(await metric('{check="revocation",mode="open"}')).toBeGreaterThanOrEqual(4);
    }
    expect(pair.sidecar.output().split('key/value store unavailable').length - 1).toBe(1);

    await redis.restart();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await sleep(200);
      const res = await get(pair.gatewayUrl, '/v1/people', token);
      await res.body?.cancel();
      status = res.status;
    }
    expect(status).toBe(200);
  }, 60_000);
});
