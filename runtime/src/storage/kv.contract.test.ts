import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryKeyValue } from './memory-kv.js';
import type { KeyValueStore } from './ports.js';
import { openRedisKeyValue } from './redis-kv.js';
import { redactUrl } from './store-errors.js';

/**
 * One list of key/value behaviours, run against the in-process store always and against Redis
 * when a server answers (required in CI). Which ran and which were skipped is printed.
 */

interface Harness {
  store: KeyValueStore;
  /** Reads a key as the backend stores it, bypassing the adapter; only where there is a backend. */
  raw?: (key: string) => Promise<string | null>;
  teardown(): Promise<void>;
}

interface Backend {
  name: string;
  setup(): Promise<Harness>;
}

const redisUrl = process.env.CPOD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const memoryBackend: Backend = {
  name: 'memory',
  async setup() {
    const store = createMemoryKeyValue();
    return { store, teardown: () => store.close() };
  },
};

const redisBackend: Backend = {
  name: 'redis',
  async setup() {
    const prefix = `cpod_test_${randomBytes(4).toString('hex')}:`;
    const store = await openRedisKeyValue({ url: redisUrl, prefix });
    const admin = new Redis(redisUrl);
    return {
      store,
      raw: (key) => admin.get(key),
      async teardown() {
        await store.close();
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        if (keys.length > 0) await admin.del(...keys);
        await admin.quit();
      },
    };
  },
};

async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let connectionError: unknown;
  client.on('error', (err) => {
    connectionError = err;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    const cause = connectionError ?? err;
    return `unreachable at ${redactUrl(redisUrl)}: ${cause instanceof Error ? cause.message : String(cause)}`;
  } finally {
    client.disconnect();
  }
}

const backends: Backend[] = [memoryBackend];
const skipped: string[] = [];
const requiredButMissing: string[] = [];
const redisProblem = await probeRedis();
if (redisProblem === undefined) backends.push(redisBackend);
else if (process.env.CI) requiredButMissing.push(`redis (${redisProblem})`);
else skipped.push(`redis (${redisProblem})`);

console.log(
  `[kv contract] ran: ${backends.map((b) => b.name).join(', ')}; skipped: ${skipped.join(', ') || 'none'}` +
    (requiredButMissing.length > 0 ? `; FAILED (required in CI): ${requiredButMissing.join(', ')}` : ''),
);

if (requiredButMissing.length > 0) {
  it('reaches every backend CI provides', () => {
    throw new Error(`CI is set but these backends are unreachable: ${requiredButMissing.join('; ')}`);
  });
}

let keySeq = 0;
const freshKey = (label: string) => `${label}:${++keySeq}`;

describe.each(backends)('kv contract: $name', (backend) => {
  let h: Harness;
  let kv: KeyValueStore;
  beforeAll(async () => {
    h = await backend.setup();
    kv = h.store;
  });
  afterAll(async () => {
    await h?.teardown();
  });

  it('gets, sets, overwrites and deletes', async () => {
    const key = freshKey('basic');
    expect(await kv.get(key)).toBeNull();
    await kv.set(key, 'one');
    expect(await kv.get(key)).toBe('one');
    await kv.set(key, 'two ✓');
    expect(await kv.get(key)).toBe('two ✓');
    expect(await kv.delete(key)).toBe(true);
    expect(await kv.delete(key)).toBe(false);
    expect(await kv.get(key)).toBeNull();
  });

  it('expires values after their TTL, and a plain set clears the TTL', async () => {
    const short = freshKey('ttl');
    const cleared = freshKey('ttl-cleared');
    await kv.set(short, 'v', { ttlMs: 300 });
    await kv.set(cleared, 'v', { ttlMs: 300 });
    await kv.set(cleared, 'forever');
    expect(await kv.get(short)).toBe('v');
    await sleep(500);
    expect(await kv.get(short)).toBeNull();
    expect(await kv.delete(short)).toBe(false);
    expect(await kv.get(cleared)).toBe('forever');
  });

  it('increments atomically', async () => {
    const key = freshKey('counter');
    expect(await kv.increment(key)).toBe(1);
    expect(await kv.increment(key, 5)).toBe(6);
    expect(await kv.increment(key, -10)).toBe(-4);
    expect(await kv.get(key)).toBe('-4');
    await Promise.all(Array.from({ length: 50 }, () => kv.increment(key)));
    expect(await kv.get(key)).toBe('46');
  });

  it('sets the TTL of an increment only when it creates the key', async () => {
    const key = freshKey('window');
    expect(await kv.increment(key, 1, { ttlMs: 600 })).toBe(1);
    await sleep(300);
    // A later increment must not push the window's end out.
    expect(await kv.increment(key, 1, { ttlMs: 600 })).toBe(2);
    await sleep(450);
    expect(await kv.get(key)).toBeNull();
    expect(await kv.increment(key, 1, { ttlMs: 600 })).toBe(1);
  });

  it('allows exactly capacity takes, counting down, then denies with a retry hint', async () => {
    const key = freshKey('bucket');
    // A slow refill, so that a stalled machine cannot slip a whole token in between takes.
    const bucket = { capacity: 5, refillPerSecond: 0.1 };
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await kv.takeTokens(key, bucket);
      expect(r.allowed).toBe(true);
      expect(r.retryAfterMs).toBe(0);
      remaining.push(r.remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const denied = await kv.takeTokens(key, bucket);
    expect(denied.allowed).toBe(false);
    expect(denied.remaining).toBe(0);
    // cost / refill = ten seconds, less whatever trickled in since the first take.
    expect(denied.retryAfterMs).toBeGreaterThan(9000);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(10_000);
    // Empty bucket: capacity / refill = fifty seconds to refill completely.
    expect(denied.resetMs).toBeGreaterThan(49_000);
    expect(denied.resetMs).toBeLessThanOrEqual(50_000);
  });

  it('reports resetMs as the time to refill completely', async () => {
    const key = freshKey('reset');
    const first = await kv.takeTokens(key, { capacity: 10, refillPerSecond: 2 });
    expect(first).toMatchObject({ allowed: true, remaining: 9 });
    expect(first.resetMs).toBeGreaterThan(400);
    expect(first.resetMs).toBeLessThanOrEqual(500);
  });

  it('refills over time, up to the capacity', async () => {
    const key = freshKey('refill');
    const bucket = { capacity: 2, refillPerSecond: 4 };
    expect((await kv.takeTokens(key, bucket)).allowed).toBe(true);
    expect((await kv.takeTokens(key, bucket)).allowed).toBe(true);
    const denied = await kv.takeTokens(key, bucket);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(250);
    await sleep(600);
    // 600 ms at 4/s would be 2.4 tokens, but the bucket holds 2.
    expect(await kv.takeTokens(key, bucket)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await kv.takeTokens(key, bucket)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await kv.takeTokens(key, bucket)).allowed).toBe(false);
  });

  it('takes several tokens at once when cost > 1', async () => {
    const key = freshKey('cost');
    const bucket = { capacity: 10, refillPerSecond: 0.1 };
    expect(await kv.takeTokens(key, bucket, 4)).toMatchObject({ allowed: true, remaining: 6 });
    expect(await kv.takeTokens(key, bucket, 4)).toMatchObject({ allowed: true, remaining: 2 });
    const denied = await kv.takeTokens(key, bucket, 4);
    expect(denied).toMatchObject({ allowed: false, remaining: 2 });
    // Two tokens short at one per ten seconds.
    expect(denied.retryAfterMs).toBeGreaterThan(19_000);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(await kv.takeTokens(key, bucket, 2)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await kv.takeTokens(key, bucket, 11)).allowed).toBe(false);
  });

  it('allows exactly capacity of many concurrent takes', async () => {
    const key = freshKey('concurrent');
    const bucket = { capacity: 10, refillPerSecond: 0.001 };
    const results = await Promise.all(Array.from({ length: 50 }, () => kv.takeTokens(key, bucket)));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(
      results
        .filter((r) => r.allowed)
        .map((r) => r.remaining)
        .sort((a, b) => a - b),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps buckets apart by key and forgets a bucket once it would be full', async () => {
    const a = freshKey('bucket-a');
    const b = freshKey('bucket-b');
    const bucket = { capacity: 1, refillPerSecond: 4 };
    expect((await kv.takeTokens(a, bucket)).allowed).toBe(true);
    expect((await kv.takeTokens(a, bucket)).allowed).toBe(false);
    expect((await kv.takeTokens(b, bucket)).allowed).toBe(true);
    await sleep(600);
    // Refilled after 250 ms, so the state has expired: nothing left to delete.
    expect(await kv.delete(a)).toBe(false);
    expect(await kv.takeTokens(a, bucket)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('rejects nonsensical arguments', async () => {
    const key = freshKey('bad');
    await expect(kv.set(key, 'v', { ttlMs: 0 })).rejects.toThrow(TypeError);
    await expect(kv.increment(key, 1.5)).rejects.toThrow(TypeError);
    await expect(kv.takeTokens(key, { capacity: 0, refillPerSecond: 1 })).rejects.toThrow(TypeError);
    await expect(kv.takeTokens(key, { capacity: 1, refillPerSecond: 0 })).rejects.toThrow(TypeError);
    await expect(kv.takeTokens(key, { capacity: 1, refillPerSecond: 1 }, 0)).rejects.toThrow(TypeError);
  });

  it('answers ping', async () => {
    await expect(kv.ping()).resolves.toBeUndefined();
  });

  it.runIf(backend.name === 'redis')('stores every key under the prefix', async () => {
    const key = freshKey('prefixed');
    await kv.set(key, 'here');
    expect(await h.raw!(key)).toBeNull();
    expect(await kv.get(key)).toBe('here');
  });
});
