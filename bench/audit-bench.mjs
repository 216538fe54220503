// `node bench/audit-bench.mjs` (after `npm run build`): audit appends per second on this machine,
// single vs batched, measured in the same run on the same store:
//  - single: one AuditChain.append awaited at a time (what one EmitAuditEvent RPC costs the store);
//  - batched: appendBatch of BENCH_AUDIT_BATCH events (what one EmitAuditEvents RPC from the
//    gateway's AuditQueue costs), every event with an idempotency key as the queue sends it;
//  - over gRPC: EmitAuditEvent one at a time vs EmitAuditEvents batches, through the sidecar's
//    AuditService on a real loopback gRPC server and the SDK's SidecarClient (PostgreSQL only).
// Stores: PostgreSQL (CPOD_TEST_DATABASE_URL, a fresh schema, dropped afterwards) when reachable,
// and embedded PGlite. Anchor: immudb reports ~1 900 single-record transactions/s.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditServiceService } from '@cpod/proto';
import { createLogger, openPgliteDocuments, openPostgresDocuments } from '@cpod/runtime';
import { SidecarClient } from '@cpod/sdk';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { AuditChain } = await import(join(root, 'sidecar/dist/audit/audit-chain.js'));
const { auditService } = await import(join(root, 'sidecar/dist/services/audit-service.js'));
const { fileCheckpointSink } = await import(join(root, 'sidecar/dist/audit/checkpoint-sink.js'));
const { loadOrCreateSigningKey } = await import(join(root, 'sidecar/dist/audit/signing-key.js'));

const SINGLE = Number(process.env.BENCH_AUDIT_SINGLE ?? 2000);
const BATCHED = Number(process.env.BENCH_AUDIT_BATCHED ?? 10_000);
const BATCH = Number(process.env.BENCH_AUDIT_BATCH ?? 100);
const TENANTS = Number(process.env.BENCH_AUDIT_TENANTS ?? 10);
const PG_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const event = (tenant, i, keyed) => ({
  tenant_id: tenant,
  actor: 'app_bench',
  client_id: 'app_bench',
  action: 'people.read',
  resource: 'people',
  outcome: 'allow',
  status: 200,
  request_id: `req-${i}`,
  metadata: { method: 'GET', path: '/v1/people' },
  occurred_at: new Date().toISOString(),
  ...(keyed ? { idempotency_key: randomUUID() } : {}),
});

async function measure(store) {
  const chain = new AuditChain(store);
  // Warm-up: table creation, connection pool, JIT.
  for (let i = 0; i < 50; i++) await chain.append(event('warmup', i, false));

  let started = performance.now();
  for (let i = 0; i < SINGLE; i++) await chain.append(event('single', i, false));
  const single = SINGLE / ((performance.now() - started) / 1000);

  started = performance.now();
  for (let i = 0; i < BATCHED; i += BATCH) {
    await chain.appendBatch(
      Array.from({ length: Math.min(BATCH, BATCHED - i) }, (_, j) => event('batched', i + j, true)),
    );
  }
  const batched = BATCHED / ((performance.now() - started) / 1000);
  const verified = await chain.verify('batched');
  if (!verified.valid || verified.recordsChecked !== BATCHED)
    throw new Error(`chain broken: ${JSON.stringify(verified)}`);

  // A gateway's batch mixes tenants; each tenant's chain is appended to in parallel.
  started = performance.now();
  for (let i = 0; i < BATCHED; i += BATCH) {
    await chain.appendBatch(
      Array.from({ length: Math.min(BATCH, BATCHED - i) }, (_, j) =>
        event(`mixed-${(i + j) % TENANTS}`, i + j, true),
      ),
    );
  }
  const mixed = BATCHED / ((performance.now() - started) / 1000);
  return { single, batched, mixed };
}

/** The same appends through gRPC: what the gateway pays per event, single RPCs vs batch RPCs. */
async function measureGrpc(store) {
  const dir = mkdtempSync(join(tmpdir(), 'cpod-audit-bench-'));
  const key = loadOrCreateSigningKey(join(dir, 'key.json'));
  const server = new Server();
  server.addService(
    AuditServiceService,
    auditService({
      chain: new AuditChain(store),
      logger: createLogger({ level: 'error' }),
      checkpoints: { sink: fileCheckpointSink(join(dir, 'cp.jsonl')), publicKey: key.publicKey },
    }),
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = new SidecarClient({ address: `127.0.0.1:${port}`, timeoutMs: 30_000 });
  const toProto = (e) => ({
    tenantId: e.tenant_id,
    actor: e.actor,
    clientId: e.client_id,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    status: e.status,
    requestId: e.request_id,
    metadata: e.metadata,
    occurredAt: e.occurred_at,
    idempotencyKey: e.idempotency_key ?? '',
  });
  try {
    let started = performance.now();
    for (let i = 0; i < SINGLE; i++) await client.emitAuditEvent(toProto(event('grpc-single', i, false)));
    const single = SINGLE / ((performance.now() - started) / 1000);
    started = performance.now();
    for (let i = 0; i < BATCHED; i += BATCH) {
      await client.emitAuditEvents(
        Array.from({ length: Math.min(BATCH, BATCHED - i) }, (_, j) =>
          toProto(event(`grpc-mixed-${(i + j) % TENANTS}`, i + j, true)),
        ),
      );
    }
    const mixed = BATCHED / ((performance.now() - started) / 1000);
    return { single, mixed };
  } finally {
    client.close();
    await new Promise((resolve) => server.tryShutdown(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
let grpcRow;
const schema = `cpod_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client(PG_URL);
let postgres = false;
try {
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  postgres = true;
} catch (err) {
  console.log(`PostgreSQL not reachable (${err.message}); skipping it`);
}
if (postgres) {
  const store = await openPostgresDocuments({ url: PG_URL, schema });
  try {
    rows.push({ store: 'postgres', ...(await measure(store)) });
    grpcRow = await measureGrpc(store);
  } finally {
    await store.close();
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
  }
}
const lite = await openPgliteDocuments();
try {
  rows.push({ store: 'pglite (in-memory)', ...(await measure(lite)) });
} finally {
  await lite.close();
}

console.log(
  `\naudit appends/s — single: ${SINGLE} appends one at a time; batched: ${BATCHED} in batches of ${BATCH}`,
);
console.log(
  `batched (1 tenant) is one chain; batched (${TENANTS} tenants) mixes tenants in each batch like a gateway's queue`,
);
console.log(
  `store                single/s  batched (1 tenant)/s  ratio  batched (${TENANTS} tenants)/s  ratio`,
);
for (const r of rows) {
  console.log(
    `${r.store.padEnd(20)} ${r.single.toFixed(0).padStart(8)} ${r.batched.toFixed(0).padStart(21)} ${(r.batched / r.single).toFixed(2).padStart(5)}x ${r.mixed.toFixed(0).padStart(23)} ${(r.mixed / r.single).toFixed(2).padStart(5)}x`,
  );
}
if (grpcRow) {
  console.log(
    `over gRPC (postgres): EmitAuditEvent ${grpcRow.single.toFixed(0)}/s, EmitAuditEvents (${TENANTS} tenants) ${grpcRow.mixed.toFixed(0)}/s, ${(grpcRow.mixed / grpcRow.single).toFixed(2)}x`,
  );
}
console.log('anchor: immudb ~1 900 single-record transactions/s');
