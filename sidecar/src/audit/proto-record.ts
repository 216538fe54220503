import type { AuditRecord } from '@cpod/proto';
import { type StoredAuditRecord, seqId } from './audit-record.js';

/** A stored record in its gRPC form. */
export function toProtoRecord(record: StoredAuditRecord): AuditRecord {
  const e = record.event;
  return {
    seq: record.seq,
    event: {
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
    },
    previousHash: record.previous_hash,
    recordHash: record.record_hash,
    recordedAt: record.recorded_at,
  };
}

/**
 * The stored shape back from the gRPC form (what the audit:verify CLI reads), field for field,
 * so that it hashes exactly as the sidecar hashed it.
 */
export function fromProtoRecord(record: AuditRecord): StoredAuditRecord {
  const e = record.event;
  return {
    id: seqId(record.seq),
    seq: record.seq,
    event: {
      tenant_id: e?.tenantId ?? '',
      actor: e?.actor ?? '',
      client_id: e?.clientId ?? '',
      action: e?.action ?? '',
      resource: e?.resource ?? '',
      outcome: e?.outcome ?? '',
      status: e?.status ?? 0,
      request_id: e?.requestId ?? '',
      metadata: e?.metadata ?? {},
      occurred_at: e?.occurredAt ?? '',
      ...(e?.idempotencyKey ? { idempotency_key: e.idempotencyKey } : {}),
    },
    previous_hash: record.previousHash,
    recorded_at: record.recordedAt,
    record_hash: record.recordHash,
  };
}
