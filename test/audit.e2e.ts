import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '@cpod/proto';
import { CpodClient, EmitAuditEventDocument, QueryAuditDocument, SidecarClient } from '@cpod/sdk';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppCredentials, createApp, getToken, ROOT } from './helpers/platform.js';
import { type Stack, startStack } from './helpers/services.js';

/**
 * The audit trail across real processes: a control plane and one gateway + sidecar pair on
 * PostgreSQL (which survives the sidecar being SIGKILLed, unlike an embedded database mid-write).
 */
const DATABASE_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(3).toString('hex');
const TENANT = `audit-${run}`;

let stack: Stack;
let writer: AppCredentials;
let writerToken: string;
let sidecar: SidecarClient;

beforeAll(async () => {
  stack = await startStack({
    CPOD_DATABASE_URL: DATABASE_URL,
    CORESDK_AUDIT_CHECKPOINT_INTERVAL_MS: '300',
  });
  writer = await createApp(stack, {
    tenant_id: TENANT,
    scopes: ['people:read', 'people:write', 'audit:read', 'audit:write'],
  });
  writerToken = await getToken(stack, writer);
  sidecar = new SidecarClient({ address: stack.pairs[0]!.sidecarAddr, timeoutMs: 10_000 });
}, 180_000);

afterAll(async () => {
  sidecar?.close();
  await stack?.stop();
});

async function allRecords(tenant: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let pageToken = '';
  do {
    const page = await sidecar.queryAudit({ tenantId: tenant, pageSize: 500, pageToken });
    records.push(...page.records);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return records;
}

/** Request ids of `tenants`' records, counted; polls until `expected` of `ids` are there. */
async function recordedIds(tenants: string[], ids: Set<string>, expected: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = new Map<string, number>();
    for (const tenant of tenants) {
      for (const record of await allRecords(tenant).catch(() => [])) {
        const id = record.event?.requestId ?? '';
        if (ids.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    if (total >= expected || Date.now() > deadline) return counts;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until no new record has arrived for a second. */
async function settled(tenant: string): Promise<void> {
  let count = -1;
  for (;;) {
    const now = (await allRecords(tenant)).length;
    if (now === count) return;
    count = now;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function verifyCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const pair = stack.pairs[0]!;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'sidecar/dist/audit-verify-cli.js'), ...args],
      { env: { PATH: process.env.PATH ?? '', ...pair.env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
  fetch(`${stack.gatewayUrl}${path}`, {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });

describe('audit e2e', () => {
  it('audits every status: 200, 401 (platform chain), 403 and 429', async () => {
    const reader = await createApp(stack, { tenant_id: TENANT, scopes: ['people:read'] });
    const tiny = await createApp(stack, {
      tenant_id: TENANT,
      scopes: ['people:read'],
      rate_limit: { capacity: 1, refill_per_second: 0.01 },
    });
    const [readerToken, tinyToken] = await Promise.all([getToken(stack, reader), getToken(stack, tiny)]);
    const responses = [
      await api('/v1/people', writerToken),
      await api('/v1/people', 'not-a-jwt'),
      await api('/v1/people', readerToken, { method: 'POST', body: JSON.stringify({ name: 'x' }) }),
      await api('/v1/people', tinyToken),
      await api('/v1/people', tinyToken),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 401, 403, 200, 429]);
    const ids = new Set(responses.map((r) => r.headers.get('x-request-id') ?? ''));
    const counts = await recordedIds([TENANT, '_platform'], ids, 5);
    expect([...counts.values()]).toEqual([1, 1, 1, 1, 1]);
    const records = (await allRecords(TENANT)).map((r) => r.event!);
    const platform = (await allRecords('_platform')).map((r) => r.event!);
    const byId = new Map([...records, ...platform].map((e) => [e.requestId, e]));
    const ordered = responses.map((r) => byId.get(r.headers.get('x-request-id') ?? ''));
    expect(ordered.map((e) => [e?.status, e?.outcome])).toEqual([
      [200, 'allow'],
      [401, 'unauthenticated'],
      [403, 'deny'],
      [200, 'allow'],
      [429, 'rate_limited'],
    ]);
    // The unverified token named no tenant we could trust: its record is in the platform chain.
    expect(ordered[1]?.tenantId).toBe('_platform');
  }, 120_000);

  it('N requests with the sidecar SIGKILLed and restarted in the middle leave exactly N records', async () => {
    const N = 150;
    const pair = stack.pairs[0]!;
    const ids: string[] = [];
    const statuses: number[] = [];
    const send = async () => {
      const res = await api('/v1/people', writerToken).catch(() => undefined);
      if (!res) throw new Error('gateway unreachable');
      await res.body?.cancel();
      statuses.push(res.status);
      ids.push(res.headers.get('x-request-id') ?? '');
    };
    const wave = async (count: number) => {
      for (let i = 0; i < count; i += 5)
        await Promise.all(Array.from({ length: Math.min(5, count - i) }, send));
    };
    await wave(60);
    await pair.stopSidecar('SIGKILL');
    await wave(30); // answered 503: the sidecar is down and the fail mode is closed
    await pair.startSidecar();
    await wave(N - 90);

    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(30);
    // 503s had no validated token, so they are in the platform chain; the rest in the tenant's.
    const counts = await recordedIds([TENANT, '_platform'], new Set(ids), N, 90_000);
    expect(counts.size).toBe(N);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const verified = await sidecar.verifyChain(TENANT);
    expect(verified).toMatchObject({ valid: true, firstBrokenSeq: 0 });
  }, 300_000);

  it('the SDK queries with filters and emits application events; personal data is masked', async () => {
    const client = new CpodClient({
      baseUrl: stack.gatewayUrl,
      clientId: writer.client_id,
      clientSecret: writer.client_secret,
    });
    const record = await client.emitAuditEvent({
      action: 'invoice.approve',
      resource: 'invoices/inv_42',
      outcome: 'allow',
      metadata: { approver_email: 'ada@example.com', note: 'call +44 20 7946 0958', amount: 120 },
    });
    expect(record.metadata).toEqual({ approver_email: '[masked]', note: 'call ***58', amount: 120 });
    const page = await client.queryAudit({
      resource: 'invoices/inv_42',
      from: new Date(Date.now() - 60_000),
    });
    expect(page.records.map((r) => r.seq)).toEqual([record.seq]);
    const none = await client.queryAudit({ resource: 'invoices/inv_42', to: new Date(Date.now() - 60_000) });
    expect(none.records).toEqual([]);
    const first = await client.queryAudit({ first: 2 });
    const second = await client.queryAudit({ first: 2, after: first.nextCursor ?? '' });
    expect(second.records[0]?.seq).toBe((first.records[1]?.seq ?? 0) + 1);
    // The same through the typed GraphQL documents.
    const { emitAuditEvent } = await client.graphql.execute(EmitAuditEventDocument, {
      input: { action: 'invoice.reject', resource: 'invoices/inv_43', outcome: 'deny' },
    });
    const { audit } = await client.graphql.execute(QueryAuditDocument, {
      resource: 'invoices/inv_43',
      verifyChain: true,
    });
    expect(audit.records.map((r) => [r.seq, r.actor, r.outcome])).toEqual([
      [emitAuditEvent.seq, emitAuditEvent.actor, 'deny'],
    ]);
    expect(audit.chainValid).toBe(true);
    const bad = await api('/v1/audit?from=yesterday', writerToken);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/from/);
  }, 120_000);

  it('verify_chain and audit:verify catch an edit, and checkpoints catch the recompute-every-hash attack', async () => {
    // Let a checkpoint cover the current head first.
    const checkpointFile = join(
      stack.pairs[0]!.env.CPOD_DATA_DIR ?? '',
      'sidecar',
      'audit-checkpoints.jsonl',
    );
    await settled(TENANT);
    const head = (await allRecords(TENANT)).length;
    const signedHeads = () =>
      readFileSync(checkpointFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { tenant: string; seq: number })
        .filter((c) => c.tenant === TENANT)
        .map((c) => c.seq);
    const deadline = Date.now() + 20_000;
    while (!signedHeads().includes(head)) {
      if (Date.now() > deadline) throw new Error('no checkpoint of the head was written');
      await new Promise((r) => setTimeout(r, 200));
    }

    const clean = await verifyCli(['--tenant', TENANT]);
    expect(clean.stdout).toMatch(/^OK/);
    expect(clean.code).toBe(0);

    const db = new pg.Client(DATABASE_URL);
    await db.connect();
    try {
      const row = `tenant_id = $1 and id = '00000000000000000002'`;
      await db.query(
        `update cpod_audit set body = jsonb_set(body, '{event,actor}', '"mallory"') where ${row}`,
        [TENANT],
      );
      const res = await api('/v1/audit?verify_chain=true&first=1', writerToken);
      expect(await res.json()).toMatchObject({ chain_valid: false, first_broken_seq: 2 });
      const edited = await verifyCli(['--tenant', TENANT]);
      expect(edited.code).toBe(1);
      expect(edited.stdout).toMatch(/TAMPERED .*first broken sequence 2/);

      await settled(TENANT); // the gateway audits the request above; rewrite after that record is in
      // Recompute every hash from the edited record on: every link verifies again...
      const rows = (
        await db.query(`select body from cpod_audit where tenant_id = $1 order by id`, [TENANT])
      ).rows.map((r) => r.body);
      const { hashRecord } = await import('../sidecar/src/audit/audit-record.js');
      let previous = rows[0].record_hash as string;
      for (const body of rows.slice(1)) {
        body.previous_hash = previous;
        body.record_hash = hashRecord(body);
        previous = body.record_hash;
        await db.query(`update cpod_audit set body = $3::jsonb where tenant_id = $1 and id = $2`, [
          TENANT,
          body.id,
          JSON.stringify(body),
        ]);
      }
      // ...but not against the signed checkpoints.
      const rewritten = await verifyCli(['--tenant', TENANT, '--json']);
      expect(rewritten.code).toBe(1);
      expect(JSON.parse(rewritten.stdout)).toMatchObject({
        valid: false,
        problem: expect.stringMatching(/checkpoint/),
      });
      const viaApi = await api('/v1/audit?verify_chain=true&first=1', writerToken);
      expect(await viaApi.json()).toMatchObject({ chain_valid: false });
    } finally {
      await db.end();
    }
  }, 120_000);
});

describe('two gateway + sidecar pairs on one PostgreSQL', () => {
  let pairs: Stack;
  const tenant = `audit-replicas-${run}`;

  beforeAll(async () => {
    pairs = await startStack({ CPOD_DATABASE_URL: DATABASE_URL }, { pairs: 2 });
  }, 180_000);

  afterAll(async () => {
    await pairs?.stop();
  });

  it('append concurrently into one chain: no fork, no gap, every request exactly once', async () => {
    const app = await createApp(pairs, {
      tenant_id: tenant,
      scopes: ['people:read'],
      rate_limit: { capacity: 10_000, refill_per_second: 1000 },
    });
    const token = await getToken(pairs, app);
    const N = 120;
    const ids: string[] = [];
    // Ten in flight at a time, alternating replicas: both sidecars append to the chain at once.
    for (let wave = 0; wave < N; wave += 10) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const res = await fetch(`${pairs.pairs[j % 2]!.gatewayUrl}/v1/people`, {
            headers: { authorization: `Bearer ${token}` },
          });
          await res.body?.cancel();
          return { status: res.status, id: res.headers.get('x-request-id') ?? '' };
        }),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      ids.push(...answers.map((a) => a.id));
    }
    const clients = pairs.pairs.map((p) => new SidecarClient({ address: p.sidecarAddr, timeoutMs: 10_000 }));
    try {
      const [a, b] = clients as [SidecarClient, SidecarClient];
      const deadline = Date.now() + 60_000;
      let records: AuditRecord[] = [];
      while (Date.now() < deadline) {
        records = (await a.queryAudit({ tenantId: tenant, pageSize: 500 })).records;
        if (records.length >= N) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.event?.requestId))).toEqual(new Set(ids));
      for (let i = 1; i < records.length; i++)
        expect(records[i]!.previousHash).toBe(records[i - 1]!.recordHash);
      expect(await a.verifyChain(tenant)).toMatchObject({ valid: true, recordsChecked: N });
      expect(await b.verifyChain(tenant)).toMatchObject({ valid: true, recordsChecked: N });
    } finally {
      for (const client of clients) client.close();
    }
  }, 240_000);
});
