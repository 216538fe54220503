import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { openMongoDocuments } from './mongo-documents.js';
import { openPgliteDocuments, pgliteSqlClient } from './pglite-documents.js';
import type { Doc, DocumentStore } from './ports.js';
import { openPostgresDocuments } from './postgres-documents.js';
import { createSqlDocumentStore } from './sql-documents.js';
import { redactUrl } from './store-errors.js';

/**
 * One list of behaviours, run against every document backend reachable in this run. Embedded
 * PGlite always runs; PostgreSQL when a server answers (required in CI); MongoDB when
 * CPOD_TEST_MONGODB_URL is set. Which ran and which were skipped is printed, never implied.
 */

interface Harness {
  store: DocumentStore;
  /** A second, independent store instance over the same data (another process, in effect). */
  twin: DocumentStore;
  /** Present where data outlives the store: opens a fresh store in a new directory and reopens it. */
  reopen?: (dir: string) => Promise<DocumentStore>;
  scratchDir?: string;
  teardown(): Promise<void>;
}

interface Backend {
  name: string;
  setup(): Promise<Harness>;
}

const runId = randomBytes(4).toString('hex');
const postgresUrl = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mongoUrl = process.env.CPOD_TEST_MONGODB_URL;

const noClose = (store: DocumentStore): DocumentStore => ({ ...store, close: async () => {} });

function pgliteBackend(name: string, onDisk: boolean): Backend {
  return {
    name,
    async setup() {
      const dir = onDisk ? await mkdtemp(join(tmpdir(), 'cpod-pglite-')) : undefined;
      const db = new PGlite(dir === undefined ? undefined : join(dir, 'main'));
      await db.waitReady;
      // PGlite cannot be opened twice, so the twin shares the database through its own store.
      const store = createSqlDocumentStore(pgliteSqlClient(db), { kind: 'pglite' });
      const twin = noClose(createSqlDocumentStore(pgliteSqlClient(db), { kind: 'pglite' }));
      return {
        store,
        twin,
        scratchDir: dir,
        reopen: dir === undefined ? undefined : (at) => openPgliteDocuments({ dataDir: at }),
        async teardown() {
          await store.close();
          if (dir !== undefined) await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

const postgresBackend: Backend = {
  name: 'postgres',
  async setup() {
    const schema = `cpod_test_${runId}`;
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await admin.query(`create schema "${schema}"`);
    const store = await openPostgresDocuments({ url: postgresUrl, schema });
    const twin = await openPostgresDocuments({ url: postgresUrl, schema });
    return {
      store,
      twin,
      async teardown() {
        await Promise.all([store.close(), twin.close()]);
        await admin.query(`drop schema "${schema}" cascade`);
        await admin.end();
      },
    };
  },
};

function mongoBackend(url: string): Backend {
  return {
    name: 'mongodb',
    async setup() {
      const database = `cpod_test_${runId}`;
      const store = await openMongoDocuments({ url, database });
      const twin = await openMongoDocuments({ url, database });
      return {
        store,
        twin,
        async teardown() {
          await Promise.all([store.close(), twin.close()]);
          const admin = new MongoClient(url);
          await admin.db(database).dropDatabase();
          await admin.close();
        },
      };
    },
  };
}

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return `unreachable at ${redactUrl(postgresUrl)}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeMongo(url: string): Promise<string | undefined> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 2000 });
  try {
    await client.db('admin').command({ ping: 1 });
    return undefined;
  } catch (err) {
    return `unreachable at ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await client.close().catch(() => {});
  }
}

const backends: Backend[] = [pgliteBackend('pglite-memory', false), pgliteBackend('pglite-disk', true)];
const skipped: string[] = [];
const requiredButMissing: string[] = [];

const postgresProblem = await probePostgres();
if (postgresProblem === undefined) backends.push(postgresBackend);
else if (process.env.CI) requiredButMissing.push(`postgres (${postgresProblem})`);
else skipped.push(`postgres (${postgresProblem})`);

if (mongoUrl === undefined) skipped.push('mongodb (CPOD_TEST_MONGODB_URL not set)');
else {
  const mongoProblem = await probeMongo(mongoUrl);
  if (mongoProblem === undefined) backends.push(mongoBackend(mongoUrl));
  else skipped.push(`mongodb (${mongoProblem})`);
}

console.log(
  `[documents contract] ran: ${backends.map((b) => b.name).join(', ')}; skipped: ${skipped.join(', ') || 'none'}` +
    (requiredButMissing.length > 0 ? `; FAILED (required in CI): ${requiredButMissing.join(', ')}` : ''),
);

if (requiredButMissing.length > 0) {
  it('reaches every backend CI provides', () => {
    throw new Error(`CI is set but these backends are unreachable: ${requiredButMissing.join('; ')}`);
  });
}

interface Person extends Doc {
  name: string;
  age?: number;
  active?: boolean;
  team?: string | null;
  address?: { city: string; zip?: string };
  [field: string]: unknown;
}

let collectionSeq = 0;
/** A collection per test keeps tests independent without truncating tables between them. */
const freshName = () => `c${runId}_${++collectionSeq}`;
const pad = (n: number) => String(n).padStart(4, '0');

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code).toBe(code);
}

describe.each(backends)('documents contract: $name', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await backend.setup();
  });
  afterAll(async () => {
    await h?.teardown();
  });

  it('inserts and gets a document', async () => {
    const people = h.store.collection<Person>(freshName());
    const inserted = await people.insert('t1', { id: 'p1', name: 'Ada', age: 36 });
    expect(inserted).toEqual({ id: 'p1', name: 'Ada', age: 36 });
    expect(await people.get('t1', 'p1')).toEqual({ id: 'p1', name: 'Ada', age: 36 });
    expect(await people.get('t1', 'missing')).toBeNull();
  });

  it('never crosses tenants', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('alpha', { id: 'same', name: 'Alpha', team: 'a' });
    await people.insert('beta', { id: 'same', name: 'Beta', team: 'b' });
    await people.insert('beta', { id: 'only-beta', name: 'B2', team: 'b' });

    expect((await people.get('alpha', 'same'))?.name).toBe('Alpha');
    expect((await people.get('beta', 'same'))?.name).toBe('Beta');
    expect(await people.get('alpha', 'only-beta')).toBeNull();

    expect(await people.update('alpha', 'same', { name: 'Alpha 2' })).toMatchObject({ name: 'Alpha 2' });
    expect((await people.get('beta', 'same'))?.name).toBe('Beta');
    expect(await people.update('alpha', 'only-beta', { name: 'stolen' })).toBeNull();

    expect((await people.list('alpha', { limit: 100 })).map((p) => p.id)).toEqual(['same']);
    expect(await people.list('alpha', { limit: 100, where: { team: 'b' } })).toEqual([]);
    expect(await people.count('alpha')).toBe(1);
    expect(await people.count('beta')).toBe(2);
    expect(await people.count('gamma')).toBe(0);

    expect(await people.delete('alpha', 'only-beta')).toBe(false);
    expect(await people.delete('alpha', 'same')).toBe(true);
    expect((await people.get('beta', 'same'))?.name).toBe('Beta');
    expect(await people.count('beta')).toBe(2);
  });

  it('rejects a duplicate id with ERR_STORE_CONFLICT and keeps the original', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('t1', { id: 'p1', name: 'first' });
    await expectCode(people.insert('t1', { id: 'p1', name: 'second' }), 'ERR_STORE_CONFLICT');
    expect((await people.get('t1', 'p1'))?.name).toBe('first');
  });

  it('insertMany writes a batch, and on a conflict writes only a prefix that stops before it', async () => {
    const people = h.store.collection<Person>(freshName());
    expect(await people.insertMany('t1', [])).toBe(0);
    expect(
      await people.insertMany('t1', [
        { id: 'a', name: 'A' },
        { id: 'b', name: 'B' },
      ]),
    ).toBe(2);
    expect(await people.get('t1', 'b')).toEqual({ id: 'b', name: 'B' });
    // The same ids in another tenant are no conflict.
    expect(await people.insertMany('t2', [{ id: 'a', name: 'other' }])).toBe(1);

    const written = await people.insertMany('t1', [
      { id: 'c', name: 'C' },
      { id: 'a', name: 'again' },
      { id: 'd', name: 'D' },
    ]);
    expect(written).toBeLessThanOrEqual(1);
    expect((await people.get('t1', 'c')) !== null).toBe(written === 1);
    expect(await people.get('t1', 'd')).toBeNull();
    expect((await people.get('t1', 'a'))?.name).toBe('A');
    expect((await people.get('t2', 'a'))?.name).toBe('other');
  });

  it('update merges shallowly and returns the new document, or null when absent', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('t1', { id: 'p1', name: 'Ada', age: 36, address: { city: 'London', zip: 'N1' } });
    const updated = await people.update('t1', 'p1', { age: 37, address: { city: 'Paris' }, team: null });
    expect(updated).toEqual({ id: 'p1', name: 'Ada', age: 37, address: { city: 'Paris' }, team: null });
    expect(await people.get('t1', 'p1')).toEqual(updated);
    // The id is the identity: a patch cannot move a document.
    expect(await people.update('t1', 'p1', { id: 'other', name: 'Ada L.' })).toMatchObject({
      id: 'p1',
      name: 'Ada L.',
    });
    expect(await people.get('t1', 'other')).toBeNull();
    expect(await people.update('t1', 'p1', {})).toMatchObject({ id: 'p1', name: 'Ada L.' });
    expect(await people.update('t1', 'absent', { name: 'x' })).toBeNull();
    expect(await people.get('t1', 'absent')).toBeNull();
  });

  it('update is atomic: concurrent patches of different fields all land', async () => {
    const counters = h.store.collection<Doc>(freshName());
    await counters.insert('t1', { id: 'doc' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => counters.update('t1', 'doc', { [`f${i}`]: i })));
    const doc = await counters.get('t1', 'doc');
    for (let i = 0; i < 20; i++) expect(doc?.[`f${i}`]).toBe(i);
  });

  it('delete reports whether something was deleted', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('t1', { id: 'p1', name: 'Ada' });
    expect(await people.delete('t1', 'p1')).toBe(true);
    expect(await people.delete('t1', 'p1')).toBe(false);
    expect(await people.get('t1', 'p1')).toBeNull();
  });

  it('lists in id order, ascending by default and descending on request', async () => {
    const people = h.store.collection<Person>(freshName());
    for (const id of ['b', 'a', 'd', 'c']) await people.insert('t1', { id, name: id });
    expect((await people.list('t1', { limit: 10 })).map((p) => p.id)).toEqual(['a', 'b', 'c', 'd']);
    expect((await people.list('t1', { limit: 10, order: 'asc' })).map((p) => p.id)).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect((await people.list('t1', { limit: 10, order: 'desc' })).map((p) => p.id)).toEqual([
      'd',
      'c',
      'b',
      'a',
    ]);
    expect((await people.list('t1', { limit: 2 })).map((p) => p.id)).toEqual(['a', 'b']);
  });

  it('orders ids bytewise, whatever the database locale', async () => {
    const people = h.store.collection<Person>(freshName());
    const ids = ['B', 'a', '_x', 'a_b', 'ab', 'Z1', '0'];
    for (const id of ids) await people.insert('t1', { id, name: id });
    const expected = [...ids].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    expect((await people.list('t1', { limit: 10 })).map((p) => p.id)).toEqual(expected);
  });

  it('paginates with a cursor, without gaps or duplicates, in both directions', async () => {
    const people = h.store.collection<Person>(freshName());
    const ids = Array.from({ length: 25 }, (_, i) => `p${pad(i)}`);
    await Promise.all(ids.map((id) => people.insert('t1', { id, name: id })));
    await people.insert('t2', { id: 'p0003x', name: 'other tenant' });

    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const batch = await people.list('t1', { limit: 7, after, order });
        seen.push(...batch.map((p) => p.id));
        if (batch.length < 7) break;
        after = batch[batch.length - 1]!.id;
      }
      expect(seen).toEqual(order === 'asc' ? ids : [...ids].reverse());
    }
    expect(await people.list('t1', { limit: 7, after: 'p0024' })).toEqual([]);
  });

  it('filters with where on strings, numbers, booleans and null, ANDed', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('t1', { id: 'p1', name: 'Ada', age: 36, active: true, team: 'core' });
    await people.insert('t1', { id: 'p2', name: 'Bob', age: 36, active: false, team: 'core' });
    await people.insert('t1', { id: 'p3', name: 'Cy', age: 7.5, active: true, team: null });
    await people.insert('t1', { id: 'p4', name: 'Di', age: 0, active: false });
    const ids = async (where: Record<string, string | number | boolean | null>) =>
      (await people.list('t1', { limit: 100, where })).map((p) => p.id);

    expect(await ids({ name: 'Ada' })).toEqual(['p1']);
    expect(await ids({ age: 36 })).toEqual(['p1', 'p2']);
    expect(await ids({ age: 7.5 })).toEqual(['p3']);
    expect(await ids({ age: 0 })).toEqual(['p4']);
    expect(await ids({ active: true })).toEqual(['p1', 'p3']);
    expect(await ids({ active: false })).toEqual(['p2', 'p4']);
    expect(await ids({ age: 36, active: true })).toEqual(['p1']);
    expect(await ids({ age: '36' })).toEqual([]);
    expect(await ids({ active: 'true' })).toEqual([]);
    // null matches an explicit null and a missing field alike.
    expect(await ids({ team: null })).toEqual(['p3', 'p4']);
    expect(await ids({ nosuchfield: 'x' })).toEqual([]);
    expect(await people.count('t1', { team: 'core' })).toBe(2);
    expect(await people.count('t1', { team: 'core', active: false })).toBe(1);
    expect(
      (await people.list('t1', { limit: 1, where: { team: 'core' }, after: 'p1' })).map((p) => p.id),
    ).toEqual(['p2']);
    await expect(people.list('t1', { limit: 1, where: { 'a.b': 1 } })).rejects.toThrow(TypeError);
  });

  it('caps the list limit at 1000', async () => {
    const many = h.store.collection<Doc>(freshName());
    const ids = Array.from({ length: 1005 }, (_, i) => `d${pad(i)}`);
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(ids.slice(i, i + 100).map((id) => many.insert('t1', { id })));
    }
    expect(await many.count('t1')).toBe(1005);
    expect(await many.list('t1', { limit: 5000 })).toHaveLength(1000);
    expect(await many.list('t1', { limit: 0 })).toEqual([]);
  });

  it('lets exactly one of many concurrent inserts of the same id succeed', async () => {
    const people = h.store.collection<Person>(freshName());
    await people.insert('t1', { id: 'warm-up', name: 'creates the collection' });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => people.insert('t1', { id: 'race', name: `writer ${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as ApiError).code).toBe('ERR_STORE_CONFLICT');
    }
    expect(await people.count('t1')).toBe(2);
  });

  it('survives two store instances creating the same collection at once', async () => {
    // Several fresh collections, because one race alone may not collide inside the catalog.
    for (let round = 0; round < 5; round++) {
      const name = freshName();
      const mine = h.store.collection<Person>(name);
      const theirs = h.twin.collection<Person>(name);
      const results = await Promise.allSettled([
        mine.insert('t1', { id: 'from-mine', name: 'mine' }),
        theirs.insert('t1', { id: 'from-theirs', name: 'theirs' }),
        mine.insert('t1', { id: 'contested', name: 'mine' }),
        theirs.insert('t1', { id: 'contested', name: 'theirs' }),
      ]);
      expect(results[0]!.status).toBe('fulfilled');
      expect(results[1]!.status).toBe('fulfilled');
      expect(results.slice(2).filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((await mine.get('t1', 'from-theirs'))?.name).toBe('theirs');
      expect((await theirs.get('t1', 'from-mine'))?.name).toBe('mine');
      expect(await theirs.count('t1')).toBe(3);
    }
  });

  it('round-trips nested objects, arrays, unicode and numbers', async () => {
    const docs = h.store.collection<Doc>(freshName());
    const doc: Doc = {
      id: 'rt',
      nested: { a: { b: { c: [1, { d: 'deep' }] } }, empty: {} },
      arrays: [[], [1, 2, 3], ['x', null, true, { k: 'v' }]],
      unicode: 'héllo wörld — 日本語 — עברית — 🧪🚀 — e\u0301 — "quotes" \\ back\nslash\ttab',
      'clé unicode 🔑': 'keys too',
      numbers: {
        zero: 0,
        negative: -42,
        float: 0.1 + 0.2,
        big: Number.MAX_SAFE_INTEGER,
        tiny: 1e-7,
        huge: 1e300,
      },
      flags: { yes: true, no: false, nothing: null },
      emptyString: '',
    };
    expect(await docs.insert('t1', doc)).toEqual(doc);
    expect(await docs.get('t1', 'rt')).toEqual(doc);
    expect(await docs.list('t1', { limit: 1 })).toEqual([doc]);
    expect(await docs.list('t1', { limit: 1, where: { unicode: doc.unicode as string } })).toEqual([doc]);
    // Undefined has no JSON form: it is dropped, as JSON.stringify does.
    expect(await docs.insert('t1', { id: 'u', gone: undefined, kept: 1 })).toEqual({ id: 'u', kept: 1 });
  });

  it('rejects invalid collection names', () => {
    for (const bad of ['', 'People', '1st', 'with-dash', 'dot.ted', 'sp ace', 'x'.repeat(49), 'drop;table']) {
      expect(() => h.store.collection(bad), bad).toThrow(TypeError);
    }
    expect(() => h.store.collection('ok_name_2')).not.toThrow();
  });

  it('answers ping', async () => {
    await expect(h.store.ping()).resolves.toBeUndefined();
  });

  it.runIf(backend.name === 'pglite-disk')('persists across a close and a reopen', async () => {
    const dir = join(h.scratchDir!, 'persist');
    const first = await h.reopen!(dir);
    await first
      .collection<Person>('people')
      .insert('t1', { id: 'p1', name: 'Ada', address: { city: 'London' } });
    await first.close();
    const second = await h.reopen!(dir);
    try {
      expect(await second.collection<Person>('people').get('t1', 'p1')).toEqual({
        id: 'p1',
        name: 'Ada',
        address: { city: 'London' },
      });
      await expectCode(
        second.collection<Person>('people').insert('t1', { id: 'p1', name: 'again' }),
        'ERR_STORE_CONFLICT',
      );
    } finally {
      await second.close();
    }
  });
});
