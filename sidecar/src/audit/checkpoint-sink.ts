import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlobStore } from '@cpod/runtime';
import { seqId } from './audit-record.js';
import type { Checkpoint } from './checkpoint.js';

/**
 * Where signed checkpoints go: somewhere the audit database's owner cannot quietly rewrite.
 * `read` returns raw entries (a malformed one as null) so the verifier, not the sink,
 * decides what counts as tampering.
 */
export interface CheckpointSink {
  readonly kind: string;
  write(checkpoint: Checkpoint): Promise<void>;
  read(tenant: string): Promise<unknown[]>;
}

/** JSON lines appended to one file (O_APPEND: concurrent writers never interleave a line). */
export function fileCheckpointSink(path: string): CheckpointSink {
  return {
    kind: 'file',
    async write(checkpoint) {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(checkpoint)}\n`, { flag: 'a', mode: 0o600 });
    },
    async read(tenant) {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      const entries: unknown[] = [];
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        let entry: unknown = null;
        try {
          entry = JSON.parse(line);
        } catch {
          // kept as null: a line that is not JSON is reported, not skipped
        }
        // Lines of other tenants are not this tenant's business; unreadable ones are everyone's.
        if (entry === null || (entry as { tenant?: unknown }).tenant === tenant) entries.push(entry);
      }
      return entries;
    },
  };
}

/**
 * One object per checkpoint under `audit-checkpoints/<tenant>/`, written with retention so
 * an object-locked bucket refuses to delete or replace it until `retainUntil`.
 */
export function blobCheckpointSink(blobs: BlobStore, retentionDays: number): CheckpointSink {
  const prefix = (tenant: string) => `audit-checkpoints/${tenant}/`;
  return {
    kind: `blob:${blobs.kind}`,
    async write(checkpoint) {
      // Two replicas may sign the same head: the random part keeps both objects.
      const key = `${prefix(checkpoint.tenant)}${seqId(checkpoint.seq)}-${randomBytes(4).toString('hex')}.json`;
      await blobs.put(key, JSON.stringify(checkpoint), {
        retainUntil: new Date(Date.now() + retentionDays * 86_400_000),
      });
    },
    async read(tenant) {
      const entries: unknown[] = [];
      for (const key of await blobs.list(prefix(tenant))) {
        const body = await blobs.get(key);
        try {
          entries.push(body ? JSON.parse(new TextDecoder().decode(body)) : null);
        } catch {
          entries.push(null);
        }
      }
      return entries;
    },
  };
}
