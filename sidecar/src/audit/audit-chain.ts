import { createHash } from 'node:crypto';
import { ApiError, type Collection, type DocumentStore } from '@cpod/runtime';
import { canonicalJson } from './canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEventData {
  tenant_id: string;
  actor: string;
  client_id: string;
  action: string;
  resource: string;
  outcome: string;
  status: number;
  request_id: string;
  metadata: Record<string, unknown>;
  occurred_at: string;
}

export interface StoredAuditRecord {
  /** The sequence number zero-padded, so id order is chain order. */
  id: string;
  seq: number;
  event: AuditEventData;
  previous_hash: string;
  record_hash: string;
  recorded_at: string;
  [field: string]: unknown;
}

export interface ChainVerification {
  valid: boolean;
  recordsChecked: number;
  firstBrokenSeq: number;
  problem: string;
  headHash: string;
}

const seqId = (seq: number) => String(seq).padStart(20, '0');

export function hashRecord(
  record: Pick<StoredAuditRecord, 'seq' | 'event' | 'previous_hash' | 'recorded_at'>,
): string {
  const { seq, event, previous_hash, recorded_at } = record;
  return createHash('sha256').update(canonicalJson({ seq, event, previous_hash, recorded_at })).digest('hex');
}

/**
 * Per-tenant hash chain on the document port. The record id is its sequence number, and
 * ids are unique per tenant, so two writers racing for the same position cannot both win:
 * the loser re-reads the head and retries. Appends from this process are also queued per
 * tenant so they do not race each other at all.
 */
export class AuditChain {
  private readonly records: Collection<StoredAuditRecord>;
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Last head this process wrote per tenant; saves a read per append. Dropped on any conflict. */
  private readonly heads = new Map<string, { seq: number; hash: string }>();

  constructor(store: DocumentStore) {
    this.records = store.collection<StoredAuditRecord>('audit');
  }

  append(event: AuditEventData): Promise<StoredAuditRecord> {
    const tenant = event.tenant_id;
    const previous = this.queues.get(tenant) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.appendNow(event));
    this.queues.set(tenant, next);
    // Drop the queue entry once idle so the map does not grow with every tenant ever seen.
    next
      .finally(() => {
        if (this.queues.get(tenant) === next) this.queues.delete(tenant);
      })
      .catch(() => undefined);
    return next;
  }

  private async appendNow(event: AuditEventData): Promise<StoredAuditRecord> {
    const tenant = event.tenant_id;
    for (let attempt = 0; attempt < 20; attempt++) {
      const head = this.heads.get(tenant) ?? (await this.readHead(tenant));
      const seq = head.seq + 1;
      const draft = { seq, event, previous_hash: head.hash, recorded_at: new Date().toISOString() };
      const record: StoredAuditRecord = { id: seqId(seq), ...draft, record_hash: hashRecord(draft) };
      try {
        const stored = await this.records.insert(tenant, record);
        this.heads.set(tenant, { seq, hash: record.record_hash });
        return stored;
      } catch (err) {
        // Another writer took this position (or our cached head is stale): re-read and retry.
        this.heads.delete(tenant);
        if ((err as ApiError).code !== 'ERR_STORE_CONFLICT') throw err;
      }
    }
    throw new ApiError('ERR_STORE_CONFLICT', 'audit append kept losing the race for the chain head');
  }

  private async readHead(tenant: string): Promise<{ seq: number; hash: string }> {
    const [head] = await this.records.list(tenant, { limit: 1, order: 'desc' });
    return { seq: head?.seq ?? 0, hash: head?.record_hash ?? GENESIS_HASH };
  }

  /** Oldest first; filters apply to nested event fields, which the port's `where` cannot express. */
  async query(
    tenant: string,
    filter: { actor?: string; action?: string; outcome?: string },
    page: { limit: number; after?: string },
  ): Promise<{ records: StoredAuditRecord[]; next: string | undefined }> {
    const matches = (r: StoredAuditRecord) =>
      (!filter.actor || r.event.actor === filter.actor) &&
      (!filter.action || r.event.action === filter.action) &&
      (!filter.outcome || r.event.outcome === filter.outcome);
    const records: StoredAuditRecord[] = [];
    let after = page.after;
    for (;;) {
      const rows = await this.records.list(tenant, { limit: 500, after, order: 'asc' });
      for (const row of rows) {
        if (!matches(row)) continue;
        if (records.length === page.limit) return { records, next: records.at(-1)?.id };
        records.push(row);
      }
      if (rows.length < 500) return { records, next: undefined };
      after = rows.at(-1)?.id;
    }
  }

  /** Recomputes every link: sequence continuity, previous_hash and record_hash. */
  async verify(tenant: string): Promise<ChainVerification> {
    let expectedSeq = 1;
    let previousHash = GENESIS_HASH;
    let after: string | undefined;
    for (;;) {
      const page = await this.records.list(tenant, { limit: 500, after, order: 'asc' });
      for (const record of page) {
        const problem =
          record.seq !== expectedSeq
            ? `expected sequence ${expectedSeq}, found ${record.seq}`
            : record.previous_hash !== previousHash
              ? 'previous_hash does not match the record before it'
              : record.record_hash !== hashRecord(record)
                ? 'record_hash does not match the record contents'
                : '';
        if (problem) {
          return {
            valid: false,
            recordsChecked: expectedSeq - 1,
            firstBrokenSeq: expectedSeq,
            problem,
            headHash: previousHash,
          };
        }
        previousHash = record.record_hash;
        expectedSeq++;
      }
      if (page.length < 500) break;
      after = page.at(-1)?.id;
    }
    return {
      valid: true,
      recordsChecked: expectedSeq - 1,
      firstBrokenSeq: 0,
      problem: '',
      headHash: previousHash,
    };
  }
}
