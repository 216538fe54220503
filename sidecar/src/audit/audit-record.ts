import { createHash } from 'node:crypto';
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
  /** Set by clients that retry (the gateway's queue); absent on events sent without one. */
  idempotency_key?: string;
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
  /** The first sequence number that does not verify; 0 when valid. */
  firstBrokenSeq: number;
  problem: string;
  headHash: string;
  checkpointsChecked: number;
}

export const seqId = (seq: number) => String(seq).padStart(20, '0');

/** SHA-256 over the canonical JSON of {seq, event, previous_hash, recorded_at}. */
export function hashRecord(
  record: Pick<StoredAuditRecord, 'seq' | 'event' | 'previous_hash' | 'recorded_at'>,
): string {
  const { seq, event, previous_hash, recorded_at } = record;
  return createHash('sha256').update(canonicalJson({ seq, event, previous_hash, recorded_at })).digest('hex');
}
