import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { openMongoDocuments } from './mongo-documents.js';
import { openDocumentStore, openKeyValueStore } from './open-stores.js';
import { openPgliteDocuments } from './pglite-documents.js';
import { openPostgresDocuments } from './postgres-documents.js';
import { openRedisKeyValue } from './redis-kv.js';
import { redactUrl, scrubMessage } from './store-errors.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('openDocumentStore', () => {
  it('embeds PGlite under <dataDir>/documents when no server is configured', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cpod-open-'));
    dirs.push(dataDir);
    const store = await openDocumentStore({ dataDir });
    try {
      expect(store.kind).toBe('pglite');
      await store.collection('things').insert('t1', { id: 'x' });
      expect(existsSync(join(dataDir, 'documents'))).toBe(true);
    } finally {
      await store.close();
    }
  });

  // Network stores connect lazily, so choosing one needs no server.
  it('prefers MongoDB, then PostgreSQL', async () => {
    const both = await openDocumentStore({
      mongodbUrl: 'mongodb://127.0.0.1:1/x',
      databaseUrl: 'postgres://127.0.0.1:1/x',
      dataDir: '/nonexistent',
    });
    expect(both.kind).toBe('mongodb');
    await both.close();
    const pgOnly = await openDocumentStore({
      databaseUrl: 'postgres://127.0.0.1:1/x',
      dataDir: '/nonexistent',
    });
    expect(pgOnly.kind).toBe('postgres');
    await pgOnly.close();
  });

  it('opens an in-memory PGlite when given no dataDir', async () => {
    const store = await openPgliteDocuments();
    await store.collection('things').insert('t1', { id: 'x', n: 1 });
    expect(await store.collection('things').get('t1', 'x')).toEqual({ id: 'x', n: 1 });
    await store.close();
  });
});

describe('openKeyValueStore', () => {
  it('uses the in-process store unless Redis is configured', async () => {
    const memory = await openKeyValueStore({});
    expect(memory.kind).toBe('memory');
    await memory.close();
    const redis = await openKeyValueStore({ redisUrl: 'redis://127.0.0.1:1', prefix: 'x:' });
    expect(redis.kind).toBe('redis');
    await redis.close();
  });
});

const SECRET = 'hunter2-s3cret';

async function expectUnavailable(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  const apiError = err as ApiError;
  expect(apiError.code).toBe('ERR_STORE_UNAVAILABLE');
  expect(apiError.status).toBe(503);
  expect(apiError.expose).toBe(false);
  expect(apiError.message).not.toContain(SECRET);
  expect(apiError.message).not.toContain('alice:');
  expect(apiError.cause).toBeUndefined();
  return apiError;
}

describe('an unreachable server', () => {
  it('PostgreSQL fails with ERR_STORE_UNAVAILABLE and no credentials', async () => {
    const store = await openPostgresDocuments({
      url: `postgres://alice:${SECRET}@127.0.0.1:1/db`,
      connectTimeoutMs: 1000,
    });
    try {
      const err = await expectUnavailable(store.ping());
      expect(err.message).toContain('127.0.0.1:1');
      await expectUnavailable(store.collection('things').get('t1', 'x'));
    } finally {
      await store.close();
    }
  });

  it('Redis fails fast with ERR_STORE_UNAVAILABLE and no credentials', async () => {
    const kv = await openRedisKeyValue({ url: `redis://alice:${SECRET}@127.0.0.1:1`, timeoutMs: 1000 });
    try {
      const started = Date.now();
      await expectUnavailable(kv.get('k'));
      await expectUnavailable(kv.takeTokens('k', { capacity: 1, refillPerSecond: 1 }));
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await kv.close();
    }
  });

  it('MongoDB fails with ERR_STORE_UNAVAILABLE and no credentials', async () => {
    const store = await openMongoDocuments({
      url: `mongodb://alice:${SECRET}@127.0.0.1:1/db`,
      connectTimeoutMs: 500,
    });
    try {
      await expectUnavailable(store.ping());
      await expectUnavailable(store.collection('things').insert('t1', { id: 'x' }));
    } finally {
      await store.close();
    }
  });

  it('a malformed MongoDB URL is reported without its password', async () => {
    await expectUnavailable(
      openMongoDocuments({ url: `mongodb://alice:${SECRET}@127.0.0.1:1/db?bogusOption=@@` }),
    );
  });
});

describe('credential scrubbing', () => {
  it('removes userinfo from URLs, including multi-host ones', () => {
    expect(redactUrl('postgres://alice:pw@db:5432/app')).toBe('postgres://db:5432/app');
    expect(redactUrl('mongodb://alice:pw@a:1,b:2/app?replicaSet=r')).toBe(
      'mongodb://a:1,b:2/app?replicaSet=r',
    );
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('removes raw and percent-decoded passwords from messages', () => {
    const url = 'postgres://alice:p%40ss%2Fw0rd@db/app';
    const message = `failed for ${url}: bad password "p@ss/w0rd" (p%40ss%2Fw0rd)`;
    const scrubbed = scrubMessage(message, url);
    expect(scrubbed).not.toContain('p@ss/w0rd');
    expect(scrubbed).not.toContain('p%40ss%2Fw0rd');
    expect(scrubbed).toContain('postgres://db/app');
  });
});
