import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, openPgliteDocuments } from '@cpod/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditChain, type StoredAuditRecord } from './audit/audit-chain.js';
import { fileCheckpointSink } from './audit/checkpoint-sink.js';
import { Checkpointer } from './audit/checkpointer.js';
import { loadOrCreateSigningKey } from './audit/signing-key.js';

/** The built CLI as `npm run audit:verify` runs it, reading the embedded store directly (--store). */
const CLI = join(dirname(fileURLToPath(import.meta.url)), '../dist/audit-verify-cli.js');
const dataDir = mkdtempSync(join(tmpdir(), 'cpod-verify-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', CPOD_DATA_DIR: dataDir, CPOD_LOG_LEVEL: 'error' } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function withChain<T>(
  fn: (chain: AuditChain, store: Awaited<ReturnType<typeof openPgliteDocuments>>) => Promise<T>,
) {
  const store = await openPgliteDocuments({ dataDir: join(dataDir, 'sidecar', 'documents') });
  try {
    return await fn(new AuditChain(store), store);
  } finally {
    await store.close();
  }
}

describe('npm run audit:verify', () => {
  it('exits 0 for an intact chain, 1 for a tampered one, 2 for bad usage', async () => {
    await withChain(async (chain) => {
      const key = loadOrCreateSigningKey(join(dataDir, 'sidecar', 'audit-signing-key.json'));
      const sink = fileCheckpointSink(join(dataDir, 'sidecar', 'audit-checkpoints.jsonl'));
      const checkpointer = new Checkpointer({
        chain,
        sink,
        key,
        intervalMs: 60_000,
        logger: createLogger({ level: 'error' }),
      });
      for (let i = 0; i < 5; i++) {
        await chain.append({
          tenant_id: 'acme',
          actor: 'app',
          client_id: 'app',
          action: 'people.read',
          resource: 'people',
          outcome: 'allow',
          status: 200,
          request_id: `r${i}`,
          metadata: { i },
          occurred_at: new Date().toISOString(),
        });
      }
      await checkpointer.close();
    });

    const ok = await cli(['--store', '--tenant', 'acme']);
    expect(ok.stdout).toMatch(/^OK {8}acme: 5 records, 1 signed checkpoints match/);
    expect(ok.code).toBe(0);

    await withChain(async (_chain, store) => {
      await store.collection<StoredAuditRecord>('audit').delete('acme', '00000000000000000003');
    });
    const deleted = await cli(['--store', '--tenant', 'acme', '--json']);
    expect(deleted.code).toBe(1);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ tenant: 'acme', valid: false, firstBrokenSeq: 3 });

    expect((await cli([])).code).toBe(2);
    expect((await cli(['--tenant', 'acme', '--bogus'])).code).toBe(2);
  }, 120_000);
});
