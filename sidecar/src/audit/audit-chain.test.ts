import { randomBytes } from 'node:crypto';
import { type DocumentStore, openPgliteDocuments, openPostgresDocuments } from '@cpod/runtime';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditChain, type AuditEventData, type StoredAuditRecord } from './audit-chain.js';

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
      const page = await chain.query('one', {}, { limit: 2 });
      expect(page.records).toHaveLength(2);
      const next = await chain.query('one', {}, { limit: 10, after: page.next });
      expect(next.records.map((r) => r.seq)).toEqual([3, 4, 5]);
    } finally {
      await store.close();
    }
  });
});
