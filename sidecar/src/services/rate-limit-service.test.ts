import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, createLogger, type KeyValueStore, openRedisKeyValue } from '@cpod/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/helpers/platform.js';
import { type RedisServer, startRedisServer } from '../../../test/helpers/redis-server.js';
import { registry } from '../metrics.js';
import { KvOutage, revocationsUnderFailMode } from './kv-outage.js';
import { bucketKey, FailoverBuckets } from './rate-limit-service.js';

const limit = { capacity: 3, refillPerSecond: 0.01 };

function metric(name: string, labels: string): number {
  const line = registry
    .render()
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('bucket keys', () => {
  it('lead with the tenant and keep client buckets and custom keys apart', () => {
    expect(bucketKey({ tenantId: 'acme', clientId: 'app1', key: '' })).toBe('rl:acme:client:app1:requests');
    expect(bucketKey({ tenantId: 'acme', clientId: '', key: 'user:1' })).toBe('rl:acme:key:user:1');
    expect(bucketKey({ tenantId: 'globex', clientId: '', key: 'user:1' })).not.toBe(
      bucketKey({ tenantId: 'acme', clientId: '', key: 'user:1' }),
    );
  });

  it('refuses a missing tenant and ids that could forge another layout, naming the field', () => {
    const fieldOf = (bucket: Parameters<typeof bucketKey>[0]) => {
      try {
        bucketKey(bucket);
      } catch (err) {
        return (err as ApiError).field;
      }
      return undefined;
    };
    expect(fieldOf({ tenantId: '', clientId: 'a', key: '' })).toBe('bucket.tenant_id');
    expect(fieldOf({ tenantId: 'acme:key', clientId: '', key: 'x' })).toBe('bucket.tenant_id');
    expect(fieldOf({ tenantId: 'acme', clientId: 'a:key:x', key: '' })).toBe('bucket.client_id');
    expect(fieldOf({ tenantId: 'acme', clientId: '', key: 'bad key' })).toBe('bucket.key');
  });
});

describe.each(['closed', 'open'] as const)('a Redis outage with CORESDK_FAIL_MODE=%s', (failMode) => {
  let redis: RedisServer;
  let kv: KeyValueStore;
  let buckets: FailoverBuckets;
  let outage: KvOutage;
  const logged: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer(await freePort());
    kv = await openRedisKeyValue({ url: redis.url, prefix: 'test:', timeoutMs: 1000 });
    const logger = createLogger({ level: 'info', write: (line) => logged.push(line) });
    outage = new KvOutage(failMode, logger);
    buckets = new FailoverBuckets(kv, outage);
  }, 30_000);

  afterAll(async () => {
    await redis?.kill();
    await buckets?.close();
    await kv?.close();
  });

  it('shares one bucket while Redis is up', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await buckets.take('rl:t:client:c:requests', limit, 1));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
  });

  it('fails fast once Redis is killed, then recovers when it is back', async () => {
    const counted = () =>
      metric('cpod_sidecar_kv_unavailable_total', `{check="rate_limit",mode="${failMode}"}`);
    const before = counted();
    await redis.kill();
    const started = performance.now();
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        const r = await buckets.take('rl:t:client:c:requests', limit, 1);
        outcomes.push(r.allowed ? 'allowed' : 'denied');
      } catch (err) {
        outcomes.push(ApiError.from(err).code);
      }
    }
    const elapsed = performance.now() - started;
    // No command waits in a queue for a Redis that is gone: five calls well inside one timeout.
    expect(elapsed).toBeLessThan(1000);
    if (failMode === 'closed') {
      expect(outcomes).toEqual(Array(5).fill('ERR_STORE_UNAVAILABLE'));
    } else {
      // A fresh local bucket of capacity 3: a per-process limit, not no limit.
      expect(outcomes).toEqual(['allowed', 'allowed', 'allowed', 'denied', 'denied']);
    }
    expect(counted() - before).toBe(5);
    // Revocations: open reads the outage as "not revoked", closed refuses.
    const revocations = revocationsUnderFailMode(kv, outage);
    const read = await revocations.get('revoked:some-jti').then(
      (value) => ({ value }),
      (err: unknown) => ({ code: ApiError.from(err).code }),
    );
    expect(read).toEqual(failMode === 'open' ? { value: null } : { code: 'ERR_STORE_UNAVAILABLE' });
    // One warning for the whole outage, however many calls and checks it touched.
    const warnings = logged.filter((l) => l.includes('key/value store unavailable'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`CORESDK_FAIL_MODE=${failMode}`);

    await redis.restart();
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      await sleep(100);
      recovered = await buckets.take('rl:t:client:other:requests', limit, 1).then(
        () => logged.some((l) => l.includes('key/value store is back')),
        () => false,
      );
    }
    expect(recovered).toBe(true);
  }, 30_000);
});
