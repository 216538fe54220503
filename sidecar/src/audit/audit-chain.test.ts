import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type DocumentStore, openPgliteDocuments, openPostgresDocuments } from '@cpod/runtime';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditChain, type AuditEventData, hashRecord, type StoredAuditRecord } from './audit-chain.js';
import { signCheckpoint, verifyChainWithCheckpoints } from './checkpoint.js';
import { fileCheckpointSink } from './checkpoint-sink.js';
import { Checkpointer } from './checkpointer.js';
import { loadOrCreateSigningKey } from './signing-key.js';

const PG_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `cpod_audit_${randomBytes(4).toString('hex')}`;

function event(tenant: string, i: number): AuditEventData {
  return {
    tenant_id: tenant,
    actor: `app_${i}`,
    client_id: 'app',
    action: 'people.read',
    resource: 'people',
    outcome: i % 3 === 0 ? 'deny' : 'allow',
    status: i % 3 === 0 ? 403 : 200,
    request_id: `req-${i}`,
    metadata: { i, nested: { z: 1, a: [1, 'two'] } },
    occurred_at: new Date().toISOString(),
  };
}

describe('audit chain on PostgreSQL (two writers on one store)', () => {
  let storeA: DocumentStore;
  let storeB: DocumentStore;

  beforeAll(async () => {
    const client = new pg.Client(PG_URL);
    await client.connect();
    await client.query(`create schema ${schema}`);
    await client.end();
    storeA = await openPostgresDocuments({ url: PG_URL, schema });
    storeB = await openPostgresDocuments({ url: PG_URL, schema });
  });

  afterAll(async () => {
    await storeA?.close();
    await storeB?.close();
    const client = new pg.Client(PG_URL);
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  it('two sidecars appending concurrently make one chain with no fork and no gap', async () => {
    const a = new AuditChain(storeA);
    const b = new AuditChain(storeB);
    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).append(event('acme', i))));
    const result = await a.verify('acme');
    expect(result).toMatchObject({ valid: true, recordsChecked: 60, firstBrokenSeq: 0 });
    const { records } = await a.query('acme', {}, { limit: 100 });
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('batches from two writers with retried idempotency keys record every event exactly once', async () => {
    const a = new AuditChain(storeA);
    const b = new AuditChain(storeB);
    const batches = Array.from({ length: 10 }, (_, batch) =>
      Array.from({ length: 8 }, (_, i) => ({
        ...event('batched', batch * 8 + i),
        idempotency_key: randomUUID(),
      })),
    );
    // Every batch is sent to both writers at once, as a retry after a lost answer could be.
    const results = await Promise.all(
      batches.flatMap((batch) => [a.appendBatch(batch), b.appendBatch(batch)]),
    );
    const { records } = await a.query('batched', {}, { limit: 500 });
    expect(records).toHaveLength(80);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(new Set(records.map((r) => r.event.idempotency_key)).size).toBe(80);
    // Both answers for one batch name the same records.
    for (let i = 0; i < results.length; i += 2) {
      expect(results[i]!.map((r) => r.seq)).toEqual(results[i + 1]!.map((r) => r.seq));
    }
    expect(await a.verify('batched')).toMatchObject({ valid: true, recordsChecked: 80 });
  });

  it('detects an edited, a deleted and a reordered record, naming the first broken sequence', async () => {
    const chain = new AuditChain(storeA);
    for (let i = 0; i < 6; i++) await chain.append(event('tamper', i));
    const records = storeA.collection<StoredAuditRecord>('audit');
    const third = await records.get('tamper', '00000000000000000003');
    await records.update('tamper', '00000000000000000003', { event: { ...third!.event, actor: 'mallory' } });
    expect(await chain.verify('tamper')).toMatchObject({ valid: false, firstBrokenSeq: 3 });
    await records.update('tamper', '00000000000000000003', { event: third!.event });
    expect((await chain.verify('tamper')).valid).toBe(true);

    const fifth = await records.get('tamper', '00000000000000000005');
    const fourth = await records.get('tamper', '00000000000000000004');
    await records.update('tamper', '00000000000000000004', { event: fifth!.event });
    await records.update('tamper', '00000000000000000005', { event: fourth!.event });
    expect(await chain.verify('tamper')).toMatchObject({ valid: false, firstBrokenSeq: 4 });
    await records.update('tamper', '00000000000000000004', { event: fourth!.event });
    await records.update('tamper', '00000000000000000005', { event: fifth!.event });

    await records.delete('tamper', '00000000000000000002');
    expect(await chain.verify('tamper')).toMatchObject({
      valid: false,
      firstBrokenSeq: 2,
      problem: expect.stringContaining('sequence'),
    });
  });
});

describe('idempotency keys', () => {
  it("a retried key returns the first record; a dead writer's claim is taken over once stale", async () => {
    const store = await openPgliteDocuments();
    try {
      const chain = new AuditChain(store);
      const key = randomUUID();
      const first = await chain.append({ ...event('idem', 1), idempotency_key: key });
      const again = await chain.append({ ...event('idem', 1), idempotency_key: key });
      expect(again).toEqual(first);
      expect((await chain.head('idem')).seq).toBe(1);

      // A writer that claimed a key and died before appending the record.
      const orphan = randomUUID();
      await store.collection('audit_keys').insert('idem', {
        id: orphan,
        seq: 2,
        writer: 'dead-writer',
        claimed_at: new Date().toISOString(),
      });
      await expect(chain.append({ ...event('idem', 2), idempotency_key: orphan })).rejects.toMatchObject({
        code: 'ERR_STORE_CONFLICT',
      });
      const patient = new AuditChain(store, { claimStaleMs: 0 });
      const taken = await patient.append({ ...event('idem', 2), idempotency_key: orphan });
      expect(taken.seq).toBe(2);
      expect((await patient.verify('idem')).valid).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('signed checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpod-checkpoints-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('catch a store rewritten with every hash recomputed, which the links alone cannot', async () => {
    const store = await openPgliteDocuments();
    try {
      const chain = new AuditChain(store);
      const key = loadOrCreateSigningKey(join(dir, 'key.json'));
      const sink = fileCheckpointSink(join(dir, 'checkpoints.jsonl'));
      const logs: string[] = [];
      const checkpointer = new Checkpointer({
        chain,
        sink,
        key,
        intervalMs: 60_000,
        logger: createLogger({ level: 'error', write: (line) => logs.push(line) }),
      });
      for (let i = 0; i < 4; i++) await chain.append(event('signed', i));
      await checkpointer.round();
      for (let i = 4; i < 8; i++) await chain.append(event('signed', i));
      await checkpointer.close();
      const checkpoints = await sink.read('signed');
      expect(checkpoints.map((c) => (c as { seq: number }).seq)).toEqual([4, 8]);
      const check = () =>
        verifyChainWithCheckpoints('signed', chain.all('signed'), checkpoints, key.publicKey);
      expect(await check()).toMatchObject({ valid: true, recordsChecked: 8, checkpointsChecked: 2 });

      // The attack: edit record 3, then recompute record_hash and previous_hash of 3..8.
      const records = store.collection<StoredAuditRecord>('audit');
      const all: StoredAuditRecord[] = [];
      for await (const r of chain.all('signed')) all.push(r);
      let previous = all[1]!.record_hash;
      for (const r of all.slice(2)) {
        const event = r.seq === 3 ? { ...r.event, actor: 'someone-else' } : r.event;
        const draft = { seq: r.seq, event, previous_hash: previous, recorded_at: r.recorded_at };
        previous = hashRecord(draft);
        await records.update('signed', r.id, {
          event,
          previous_hash: draft.previous_hash,
          record_hash: previous,
        });
      }
      expect((await chain.verify('signed')).valid).toBe(true); // links alone: fooled
      expect(await check()).toMatchObject({ valid: false, firstBrokenSeq: 4 });

      // The sidecar itself notices at its next round and refuses to vouch for the rewritten chain.
      await chain.append(event('signed', 8));
      await checkpointer.round();
      expect(checkpointer).toMatchObject({ written: 2, tampered: 1 });
      expect(logs.join('\n')).toMatch(/no longer extends its last signed checkpoint/);
      await records.delete('signed', String(9).padStart(20, '0'));

      // Deleting the tail after the attack is caught too: the newest checkpoint vouches for 8.
      for (const seq of [5, 6, 7, 8]) await records.delete('signed', String(seq).padStart(20, '0'));
      expect(
        await verifyChainWithCheckpoints('signed', chain.all('signed'), checkpoints.slice(1), key.publicKey),
      ).toMatchObject({ valid: false, firstBrokenSeq: 5, problem: expect.stringContaining('vouches for 8') });
    } finally {
      await store.close();
    }
  });

  it('reject a forged or edited checkpoint', async () => {
    const key = loadOrCreateSigningKey(join(dir, 'key.json'));
    const other = loadOrCreateSigningKey(join(dir, 'other-key.json'));
    const real = signCheckpoint(key, { tenant: 't', seq: 1, hash: 'a'.repeat(64) });
    const none = (async function* () {})();
    expect(
      await verifyChainWithCheckpoints('t', none, [{ ...real, hash: 'b'.repeat(64) }], key.publicKey),
    ).toMatchObject({
      valid: false,
      problem: expect.stringContaining('invalid signature'),
    });
    const forged = signCheckpoint(other, { tenant: 't', seq: 1, hash: 'a'.repeat(64) });
    expect((await verifyChainWithCheckpoints('t', none, [forged], key.publicKey)).problem).toMatch(
      /unknown key/,
    );
    expect((await verifyChainWithCheckpoints('t', none, [null], key.publicKey)).problem).toMatch(/malformed/);
  });
});

describe('audit chain on PGlite', () => {
  it('keeps tenants in separate chains and filters queries', async () => {
    const store = await openPgliteDocuments();
    try {
      const chain = new AuditChain(store);
      for (let i = 0; i < 5; i++) {
        await chain.append(event('one', i));
        await chain.append(event('two', i));
      }
      expect((await chain.verify('one')).recordsChecked).toBe(5);
      expect((await chain.verify('two')).valid).toBe(true);
      const denied = await chain.query('one', { outcome: 'deny' }, { limit: 10 });
      expect(denied.records.map((r) => r.event.outcome)).toEqual(['deny', 'deny']);
      const masked = await chain.append({
        ...event('masking', 7),
        metadata: { note: 'mail ada@example.com' },
      });
      expect(masked.event.metadata).toEqual({ note: 'mail a***@example.com' });
      const page = await chain.query('one', {}, { limit: 2 });
      expect(page.records).toHaveLength(2);
      const next = await chain.query('one', {}, { limit: 10, after: page.next });
      expect(next.records.map((r) => r.seq)).toEqual([3, 4, 5]);
      await chain.append({
        ...event('one', 9),
        resource: 'people/per_1',
        occurred_at: '2020-01-01T00:00:00Z',
      });
      const byResource = await chain.query('one', { resource: 'people/per_1' }, { limit: 10 });
      expect(byResource.records.map((r) => r.seq)).toEqual([6]);
      const old = await chain.query('one', { to: new Date('2021-01-01T00:00:00Z') }, { limit: 10 });
      expect(old.records.map((r) => r.seq)).toEqual([6]);
      const recent = await chain.query('one', { from: new Date('2021-01-01T00:00:00Z') }, { limit: 10 });
      expect(recent.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await store.close();
    }
  });
});
