import { assertBucket, assertIncrement, type BucketState, refillAndTake, ttlToMs } from './kv-rules.js';
import type { BucketResult, KeyValueStore, TokenBucket } from './ports.js';

type Entry =
  | { kind: 'value'; value: string; expiresAt: number }
  | { kind: 'bucket'; state: BucketState; expiresAt: number };

/**
 * In-process key/value store with the semantics of the Redis adapter, for single-process runs and
 * tests. Every operation completes synchronously inside its promise, which is what makes
 * increments and token takes atomic here. Expired entries are dropped when next touched.
 */
export function createMemoryKeyValue(): KeyValueStore {
  const entries = new Map<string, Entry>();

  const live = (key: string, now: number): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const expiry = (now: number, ttlMs: number | undefined) => (ttlMs === undefined ? Infinity : now + ttlMs);
  const asValue = (key: string, entry: Entry | undefined): string | null => {
    if (!entry) return null;
    // Redis answers WRONGTYPE for a string command on a hash; mirror it rather than guess.
    if (entry.kind !== 'value') throw new TypeError(`key ${key} holds a token bucket`);
    return entry.value;
  };

  return {
    kind: 'memory',
    async get(key) {
      return asValue(key, live(key, Date.now()));
    },
    async set(key, value, options) {
      const ttlMs = ttlToMs(options?.ttlMs);
      entries.set(key, { kind: 'value', value, expiresAt: expiry(Date.now(), ttlMs) });
    },
    async delete(key) {
      return live(key, Date.now()) !== undefined && entries.delete(key);
    },
    async increment(key, by = 1, options) {
      assertIncrement(by);
      const ttlMs = ttlToMs(options?.ttlMs);
      const now = Date.now();
      const entry = live(key, now);
      const current = asValue(key, entry);
      const base = current === null ? 0 : Number(current);
      if (!/^-?\d+$/.test(current ?? '0') || !Number.isSafeInteger(base)) {
        throw new TypeError(`key ${key} does not hold an integer`);
      }
      const next = base + by;
      // Like INCRBY, an existing key keeps its TTL; only a new key gets `ttlMs`.
      entries.set(key, {
        kind: 'value',
        value: String(next),
        expiresAt: entry ? entry.expiresAt : expiry(now, ttlMs),
      });
      return next;
    },
    async takeTokens(key: string, bucket: TokenBucket, cost = 1): Promise<BucketResult> {
      assertBucket(bucket, cost);
      const now = Date.now();
      const entry = live(key, now);
      if (entry && entry.kind !== 'bucket') throw new TypeError(`key ${key} does not hold a token bucket`);
      const { state, result } = refillAndTake(entry?.state, bucket, cost, now);
      entries.set(key, { kind: 'bucket', state, expiresAt: now + Math.max(1, result.resetMs) });
      return result;
    },
    async ping() {},
    async close() {
      entries.clear();
    },
  };
}
