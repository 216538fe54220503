import { randomUUID } from 'node:crypto';
import { ApiError, type Collection, type DocumentStore } from '@cpod/runtime';
import {
  type AuditEventData,
  type ChainVerification,
  GENESIS_HASH,
  hashRecord,
  type StoredAuditRecord,
  seqId,
} from './audit-record.js';
import { type TrustedHead, verifyRecords } from './chain-verifier.js';
import { maskMetadata } from './mask-metadata.js';

export {
  type AuditEventData,
  type ChainVerification,
  GENESIS_HASH,
  hashRecord,
  type StoredAuditRecord,
} from './audit-record.js';

/**
 * Which record an idempotency key went to. Its id is the key, unique per tenant like every
 * document id, so two writers cannot both claim one key.
 */
interface KeyClaim {
  id: string;
  seq: number;
  /** The AuditChain instance that claimed it; a claim of our own is never "in progress". */
  writer: string;
  claimed_at: string;
  [field: string]: unknown;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  resource?: string;
  outcome?: string;
  /** Inclusive lower bound on occurred_at. */
  from?: Date;
  /** Exclusive upper bound on occurred_at. */
  to?: Date;
}

export interface AuditChainOptions {
  /**
   * How long another writer's claim on an idempotency key counts as "still appending" before
   * this writer takes it over (the other writer died between claiming and appending).
   * Default 10 s, far above one append.
   */
  claimStaleMs?: number;
}

const PAGE = 500;

function draftRecord(seq: number, event: AuditEventData, previousHash: string): StoredAuditRecord {
  const draft = { seq, event, previous_hash: previousHash, recorded_at: new Date().toISOString() };
  return { id: seqId(seq), ...draft, record_hash: hashRecord(draft) };
}

/**
 * Per-tenant hash chain on the document port.
 *
 * Across replicas (several sidecars on one store): the record id is its sequence number and
 * ids are unique per tenant, so two writers racing for a position cannot both win; the loser
 * re-reads the head and retries. Hence no fork and no gap, with any number of writers.
 * Idempotency keys are claimed with the same unique-id rule before the record is written, so a
 * retried key yields the first record, also when the retry reaches a different sidecar; only
 * a claim left by a writer that died mid-append is taken over, after `claimStaleMs`.
 *
 * Within one process appends are queued per tenant, so they do not race each other at all.
 */
export class AuditChain {
  private readonly records: Collection<StoredAuditRecord>;
  private readonly claims: Collection<KeyClaim>;
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Last head this process wrote per tenant; saves a read per append. Dropped on any conflict. */
  private readonly heads = new Map<string, { seq: number; hash: string }>();
  private readonly writer = randomUUID();
  private readonly claimStaleMs: number;
  /** Tenants appended to since the last call of takeTouchedTenants (for checkpoints). */
  private touched = new Set<string>();

  constructor(store: DocumentStore, options: AuditChainOptions = {}) {
    this.records = store.collection<StoredAuditRecord>('audit');
    this.claims = store.collection<KeyClaim>('audit_keys');
    this.claimStaleMs = options.claimStaleMs ?? 10_000;
  }

  async append(event: AuditEventData): Promise<StoredAuditRecord> {
    const [record] = await this.appendBatch([event]);
    return record!;
  }

  /**
   * Appends events in order (several tenants may be mixed); returns one record per event.
   * Metadata is masked first, because what is hashed can never be changed afterwards.
   */
  async appendBatch(events: AuditEventData[]): Promise<StoredAuditRecord[]> {
    const byTenant = new Map<string, number[]>();
    events.forEach((event, i) => {
      byTenant.set(event.tenant_id, [...(byTenant.get(event.tenant_id) ?? []), i]);
    });
    const results: StoredAuditRecord[] = new Array(events.length);
    await Promise.all(
      [...byTenant].map(([tenant, indexes]) =>
        this.enqueue(tenant, async () => {
          const masked = indexes.map((i) => {
            const event = events[i]!;
            return { ...event, metadata: maskMetadata(event.metadata) as Record<string, unknown> };
          });
          const records = await this.appendGroup(tenant, masked);
          indexes.forEach((index, j) => {
            results[index] = records[j]!;
          });
        }),
      ),
    );
    return results;
  }

  private enqueue<T>(tenant: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(tenant) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.queues.set(tenant, next);
    // Drop the queue entry once idle so the map does not grow with every tenant ever seen.
    next
      .finally(() => {
        if (this.queues.get(tenant) === next) this.queues.delete(tenant);
      })
      .catch(() => undefined);
    return next;
  }

  /**
   * One tenant's share of a batch. Fast path for keyed events (the gateway's queue): claim
   * every key at its expected position, then write the chained records — each in one
   * `insertMany`, so a batch costs two commits rather than two per event. Any surprise — a key
   * already claimed (a retry), a position taken by another writer — hands the rest to the
   * one-at-a-time path, which resolves claims of our own and of others correctly.
   */
  private async appendGroup(tenant: string, events: AuditEventData[]): Promise<StoredAuditRecord[]> {
    const out: StoredAuditRecord[] = [];
    if (events.length > 1 && events.every((e) => e.idempotency_key)) {
      const head = this.heads.get(tenant) ?? (await this.head(tenant));
      const now = new Date().toISOString();
      const claims = events.map((e, j) => ({
        id: e.idempotency_key!,
        seq: head.seq + 1 + j,
        writer: this.writer,
        claimed_at: now,
      }));
      if ((await this.claims.insertMany(tenant, claims)) === claims.length) {
        const drafts: StoredAuditRecord[] = [];
        let previous = head;
        for (const event of events) {
          const record = draftRecord(previous.seq + 1, event, previous.hash);
          drafts.push(record);
          previous = { seq: record.seq, hash: record.record_hash };
        }
        const written = await this.records.insertMany(tenant, drafts);
        out.push(...drafts.slice(0, written));
        const last = out.at(-1);
        if (last) this.touched.add(tenant);
        if (written === drafts.length && last)
          this.heads.set(tenant, { seq: last.seq, hash: last.record_hash });
        else this.heads.delete(tenant); // another writer moved the head: re-read it
      }
    }
    for (const event of events.slice(out.length)) out.push(await this.appendNow(tenant, event));
    return out;
  }

  private async appendNow(tenant: string, event: AuditEventData): Promise<StoredAuditRecord> {
    const key = event.idempotency_key;
    for (let attempt = 0; attempt < 50; attempt++) {
      const head = this.heads.get(tenant) ?? (await this.head(tenant));
      const seq = head.seq + 1;
      if (key) {
        const existing = await this.claim(tenant, key, seq);
        if (existing) return existing;
      }
      const record = draftRecord(seq, event, head.hash);
      try {
        const stored = await this.records.insert(tenant, record);
        this.heads.set(tenant, { seq, hash: record.record_hash });
        this.touched.add(tenant);
        return stored;
      } catch (err) {
        // Another writer took this position (or our cached head is stale): re-read and retry.
        this.heads.delete(tenant);
        if ((err as ApiError).code !== 'ERR_STORE_CONFLICT') throw err;
      }
    }
    throw new ApiError('ERR_STORE_CONFLICT', 'audit append kept losing the race for the chain head');
  }

  /**
   * Claims `key` for position `seq`. Returns the record when the key is already recorded,
   * undefined when this writer may append it at `seq`.
   */
  private async claim(tenant: string, key: string, seq: number): Promise<StoredAuditRecord | undefined> {
    const now = new Date().toISOString();
    const claim: KeyClaim = { id: key, seq, writer: this.writer, claimed_at: now };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.claims.insert(tenant, claim);
        return undefined;
      } catch (err) {
        if ((err as ApiError).code !== 'ERR_STORE_CONFLICT') throw err;
      }
      const held = await this.claims.get(tenant, key);
      if (!held) continue; // removed in between: claim again
      const record = await this.records.get(tenant, seqId(held.seq));
      if (record?.event.idempotency_key === key) return record;
      const othersInFlight =
        held.writer !== this.writer && Date.now() - Date.parse(held.claimed_at) < this.claimStaleMs;
      if (othersInFlight) {
        throw new ApiError(
          'ERR_STORE_CONFLICT',
          'this audit event is being appended by another writer; retry',
        );
      }
      // Our own earlier attempt lost the position race, or the other writer died: move the claim.
      await this.claims.update(tenant, key, { seq, writer: this.writer, claimed_at: now });
      return undefined;
    }
    throw new ApiError('ERR_STORE_CONFLICT', 'could not claim the audit idempotency key');
  }

  /** The newest record's sequence number and hash, read from the store (0 and zeros when empty). */
  async head(tenant: string): Promise<{ seq: number; hash: string }> {
    const [head] = await this.records.list(tenant, { limit: 1, order: 'desc' });
    return { seq: head?.seq ?? 0, hash: head?.record_hash ?? GENESIS_HASH };
  }

  /** Tenants this process appended to since the previous call. */
  takeTouchedTenants(): string[] {
    const tenants = [...this.touched];
    this.touched = new Set();
    return tenants;
  }

  /** Every record of the tenant, oldest first, read page by page. */
  async *all(tenant: string, after?: string): AsyncGenerator<StoredAuditRecord> {
    for (;;) {
      const rows = await this.records.list(tenant, { limit: PAGE, after, order: 'asc' });
      yield* rows;
      if (rows.length < PAGE) return;
      after = rows.at(-1)?.id;
    }
  }

  /** Oldest first; filters apply to nested event fields, which the port's `where` cannot express. */
  async query(
    tenant: string,
    filter: AuditFilter,
    page: { limit: number; after?: string },
  ): Promise<{ records: StoredAuditRecord[]; next: string | undefined }> {
    const matches = (r: StoredAuditRecord) => {
      const e = r.event;
      const at = Date.parse(e.occurred_at);
      return (
        (!filter.actor || e.actor === filter.actor) &&
        (!filter.action || e.action === filter.action) &&
        (!filter.resource || e.resource === filter.resource) &&
        (!filter.outcome || e.outcome === filter.outcome) &&
        (!filter.from || at >= filter.from.getTime()) &&
        (!filter.to || at < filter.to.getTime())
      );
    };
    const records: StoredAuditRecord[] = [];
    for await (const row of this.all(tenant, page.after)) {
      if (!matches(row)) continue;
      if (records.length === page.limit) return { records, next: records.at(-1)?.id };
      records.push(row);
    }
    return { records, next: undefined };
  }

  /** Recomputes every link, and compares the chain with trusted (signature-checked) heads. */
  verify(tenant: string, trusted: TrustedHead[] = []): Promise<ChainVerification> {
    return verifyRecords(this.all(tenant), trusted);
  }
}
