import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, AuditServiceService } from '@cpod/proto';
import { createLogger, type DocumentStore, openPostgresDocuments } from '@cpod/runtime';
import { SidecarClient } from '@cpod/sdk';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditChain } from '../audit/audit-chain.js';
import { fileCheckpointSink } from '../audit/checkpoint-sink.js';
import { Checkpointer } from '../audit/checkpointer.js';
import { loadOrCreateSigningKey } from '../audit/signing-key.js';
import { auditService } from './audit-service.js';

/** AuditService over real gRPC on loopback, on PostgreSQL, called through the SDK's client. */
const PG_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `cpod_audit_svc_${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'cpod-audit-svc-'));
let store: DocumentStore;
let server: Server;
let client: SidecarClient;
let checkpointer: Checkpointer;

beforeAll(async () => {
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  store = await openPostgresDocuments({ url: PG_URL, schema });
  const chain = new AuditChain(store);
  const key = loadOrCreateSigningKey(join(dir, 'key.json'));
  const sink = fileCheckpointSink(join(dir, 'checkpoints.jsonl'));
  const logger = createLogger({ level: 'error' });
  checkpointer = new Checkpointer({ chain, sink, key, intervalMs: 60_000, logger });
  server = new Server();
  server.addService(
    AuditServiceService,
    auditService({ chain, logger, checkpoints: { sink, publicKey: key.publicKey } }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  client = new SidecarClient({ address: `127.0.0.1:${port}`, timeoutMs: 10_000 });
});

afterAll(async () => {
  client?.close();
  await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
  await store?.close();
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

const event = (tenantId: string, i: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  tenantId,
  actor: 'app',
  clientId: 'app',
  action: 'people.read',
  resource: 'people',
  outcome: 'allow',
  status: 200,
  requestId: `r${i}`,
  metadata: { i },
  occurredAt: new Date().toISOString(),
  idempotencyKey: randomUUID(),
  ...extra,
});

describe('AuditService', () => {
  it('EmitAuditEvents appends a mixed-tenant batch in order; resending it appends nothing', async () => {
    const batch = [event('a', 1), event('b', 2), event('a', 3)];
    const first = await client.emitAuditEvents(batch);
    expect(first.map((r) => [r.event?.tenantId, r.seq])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
    const again = await client.emitAuditEvents(batch);
    expect(again.map((r) => r.recordHash)).toEqual(first.map((r) => r.recordHash));
    expect((await client.queryAudit({ tenantId: 'a' })).records).toHaveLength(2);
  });

  it('rejects a batch with an invalid event as a whole, naming the field', async () => {
    const err = await client
      .emitAuditEvents([event('c', 1), event('c', 2, { action: '' })])
      .catch((e: unknown) => e as { grpcCode: number; message: string });
    expect(err).toMatchObject({
      grpcCode: status.INVALID_ARGUMENT,
      message: expect.stringContaining('events[1].action'),
    });
    expect((await client.queryAudit({ tenantId: 'c' })).records).toHaveLength(0);
    const badKey = await client
      .emitAuditEvents([event('c', 1, { idempotencyKey: 'x' })])
      .catch((e: Error) => e);
    expect((badKey as Error).message).toContain('idempotency_key');
  });

  it('QueryAudit filters by resource and time range and validates its bounds', async () => {
    await client.emitAuditEvents([
      event('q', 1, { resource: 'people/p1', occurredAt: '2025-01-01T00:00:00.000Z' }),
      event('q', 2, { resource: 'people/p2', occurredAt: '2025-06-01T00:00:00.000Z' }),
    ]);
    const p1 = await client.queryAudit({ tenantId: 'q', resource: 'people/p1' });
    expect(p1.records.map((r) => r.seq)).toEqual([1]);
    const range = await client.queryAudit({
      tenantId: 'q',
      occurredFrom: '2025-03-01T00:00:00Z',
      occurredTo: '2026-01-01T00:00:00Z',
    });
    expect(range.records.map((r) => r.seq)).toEqual([2]);
    await expect(client.queryAudit({ tenantId: 'q', occurredFrom: 'soon' })).rejects.toThrow(/occurred_from/);
    await expect(client.queryAudit({ tenantId: 'q', pageToken: 'abc' })).rejects.toThrow(/page_token/);
  });

  it('VerifyChain compares the chain with the signed checkpoints', async () => {
    await client.emitAuditEvents([event('v', 1), event('v', 2)]);
    await checkpointer.round();
    expect(await client.verifyChain('v')).toMatchObject({
      valid: true,
      recordsChecked: 2,
      checkpointsChecked: 1,
    });
    await store.collection('audit').delete('v', '00000000000000000002');
    expect(await client.verifyChain('v')).toMatchObject({ valid: false, firstBrokenSeq: 2 });
  });
});
