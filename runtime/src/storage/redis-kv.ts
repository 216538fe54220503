import { Redis } from 'ioredis';
import { assertBucket, assertIncrement, ttlToMs } from './kv-rules.js';
import type { BucketResult, KeyValueStore, TokenBucket } from './ports.js';
import { storeUnavailable } from './store-errors.js';

export interface RedisKeyValueOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://`; credentials never appear in errors. */
  url: string;
  /** Prepended to every key, so several platforms can share one Redis. Default `cpod:`. */
  prefix?: string | undefined;
  /** Bound on connecting and on each command before ERR_STORE_UNAVAILABLE. Default 5000. */
  timeoutMs?: number | undefined;
}

/**
 * Token bucket in one script, so the read-refill-take-write cycle is atomic across every gateway
 * replica. The clock is the server's TIME, not the callers', so replicas with skewed clocks still
 * agree. Mirrors `refillAndTake` in kv-rules.ts. Only integers are returned because Redis
 * truncates Lua numbers in replies.
 */
const TAKE_TOKENS = `
if redis.replicate_commands then redis.replicate_commands() end
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local tokens = capacity
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if state[1] and state[2] then
  local elapsed = math.max(0, now - tonumber(state[2]))
  tokens = math.min(capacity, tonumber(state[1]) + elapsed * rate)
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local retry = 0
if allowed == 0 then retry = math.ceil((cost - tokens) / rate) end
local reset = math.ceil((capacity - tokens) / rate)
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
-- A missing bucket reads as full, so the state only has to live until it would be full again.
redis.call('PEXPIRE', KEYS[1], math.max(1, reset))
return { allowed, math.floor(tokens), retry, reset }
`;

/** INCRBY that gives a key its TTL only when the increment creates it. */
const INCREMENT_WITH_TTL = `
redis.call('SET', KEYS[1], 0, 'PX', ARGV[2], 'NX')
return redis.call('INCRBY', KEYS[1], ARGV[1])
`;

interface Scripts {
  cpodTakeTokens(key: string, capacity: number, refillPerSecond: number, cost: number): Promise<unknown>;
  cpodIncrementWithTtl(key: string, by: number, ttlMs: number): Promise<unknown>;
}

// Server replies that mean "cannot serve now" rather than "wrong command".
const OUTAGE_REPLY = /^(LOADING|MASTERDOWN|BUSY|CLUSTERDOWN|TRYAGAIN|NOAUTH|WRONGPASS)\b/;

export async function openRedisKeyValue(options: RedisKeyValueOptions): Promise<KeyValueStore> {
  const { url } = options;
  const prefix = options.prefix ?? 'cpod:';
  const timeoutMs = options.timeoutMs ?? 5000;
  let redis: Redis;
  try {
    redis = new Redis(url, {
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // The offline queue is on only until the first connection is up, so commands issued at
      // start-up wait for it. Once Redis has been reached, a lost connection fails commands at
      // once (see the 'ready' handler): callers apply their fail mode instead of queueing.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      // Keep reconnecting in the background, backing off to once a second.
      retryStrategy: (attempt) => Math.min(attempt * 200, 1000),
    });
  } catch (err) {
    throw storeUnavailable('Redis', url, err);
  }
  // Failures reach callers through rejected commands; without a listener ioredis would print
  // every reconnect error to the console. The last one explains a later "max retries" rejection.
  let lastConnectionError: unknown;
  redis.on('error', (err) => {
    lastConnectionError = err;
  });
  redis.on('ready', () => {
    lastConnectionError = undefined;
    redis.options.enableOfflineQueue = false;
  });
  redis.defineCommand('cpodTakeTokens', { numberOfKeys: 1, lua: TAKE_TOKENS });
  redis.defineCommand('cpodIncrementWithTtl', { numberOfKeys: 1, lua: INCREMENT_WITH_TTL });
  const scripts = redis as Redis & Scripts;

  const guard = async <R>(operation: () => Promise<R>): Promise<R> => {
    try {
      return await operation();
    } catch (err) {
      const isCommandError =
        err instanceof Error && err.name === 'ReplyError' && !OUTAGE_REPLY.test(err.message);
      if (isCommandError) throw err;
      // Rejected without reaching Redis: the connection error says why better than the rejection.
      const gaveUp =
        (err instanceof Error && err.name === 'MaxRetriesPerRequestError') || redis.status !== 'ready';
      throw storeUnavailable(
        'Redis',
        url,
        gaveUp && lastConnectionError !== undefined ? lastConnectionError : err,
      );
    }
  };

  return {
    kind: 'redis',
    get: (key) => guard(() => redis.get(prefix + key)),
    async set(key, value, setOptions) {
      const ttlMs = ttlToMs(setOptions?.ttlMs);
      await guard(() =>
        ttlMs === undefined ? redis.set(prefix + key, value) : redis.set(prefix + key, value, 'PX', ttlMs),
      );
    },
    async delete(key) {
      return (await guard(() => redis.del(prefix + key))) > 0;
    },
    async increment(key, by = 1, incrementOptions) {
      assertIncrement(by);
      const ttlMs = ttlToMs(incrementOptions?.ttlMs);
      const value = await guard(() =>
        ttlMs === undefined
          ? redis.incrby(prefix + key, by)
          : scripts.cpodIncrementWithTtl(prefix + key, by, ttlMs),
      );
      return Number(value);
    },
    async takeTokens(key: string, bucket: TokenBucket, cost = 1): Promise<BucketResult> {
      assertBucket(bucket, cost);
      const reply = await guard(() =>
        scripts.cpodTakeTokens(prefix + key, bucket.capacity, bucket.refillPerSecond, cost),
      );
      const [allowed, remaining, retryAfterMs, resetMs] = reply as [number, number, number, number];
      return { allowed: allowed === 1, remaining, retryAfterMs, resetMs };
    },
    async ping() {
      await guard(() => redis.ping());
    },
    async close() {
      // QUIT waits for replies in flight; a connection that is not up has nothing to wait for.
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
