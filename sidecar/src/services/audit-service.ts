import type { AuditEvent, AuditRecord, AuditServiceServer } from '@cpod/proto';
import { ApiError, type Logger } from '@cpod/runtime';
import type { AuditChain, AuditEventData, StoredAuditRecord } from '../audit/audit-chain.js';
import { auditAppends } from '../metrics.js';
import { unary } from '../unary.js';

const TENANT = /^[\w-]{1,64}$/;

function requireTenant(tenantId: string): string {
  if (!TENANT.test(tenantId))
    throw new ApiError('ERR_VALIDATION_FAILED', 'tenant_id is required', { field: 'tenant_id' });
  return tenantId;
}

function toEventData(event: AuditEvent | undefined): AuditEventData {
  if (!event) throw new ApiError('ERR_VALIDATION_FAILED', 'event is required', { field: 'event' });
  if (!event.action)
    throw new ApiError('ERR_VALIDATION_FAILED', 'event.action is required', { field: 'event.action' });
  if (!event.outcome)
    throw new ApiError('ERR_VALIDATION_FAILED', 'event.outcome is required', { field: 'event.outcome' });
  return {
    tenant_id: requireTenant(event.tenantId),
    actor: event.actor || 'anonymous',
    client_id: event.clientId,
    action: event.action,
    resource: event.resource,
    outcome: event.outcome,
    status: event.status,
    request_id: event.requestId,
    metadata: event.metadata ?? {},
    occurred_at: event.occurredAt || new Date().toISOString(),
  };
}

function toRecord(record: StoredAuditRecord): AuditRecord {
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
    },
    previousHash: record.previous_hash,
    recordHash: record.record_hash,
    recordedAt: record.recorded_at,
  };
}

export function auditService(deps: { chain: AuditChain; logger: Logger }): AuditServiceServer {
  return {
    emitAuditEvent: unary(deps.logger, 'EmitAuditEvent', async (request) => {
      const record = await deps.chain.append(toEventData(request.event));
      auditAppends.inc();
      return { record: toRecord(record) };
    }),

    queryAudit: unary(deps.logger, 'QueryAudit', async (request) => {
      const limit = request.pageSize || 50;
      if (limit > 500)
        throw new ApiError('ERR_VALIDATION_FAILED', 'page_size must be at most 500', { field: 'page_size' });
      const page = await deps.chain.query(
        requireTenant(request.tenantId),
        { actor: request.actor, action: request.action, outcome: request.outcome },
        { limit, after: request.pageToken || undefined },
      );
      return { records: page.records.map(toRecord), nextPageToken: page.next ?? '' };
    }),

    verifyChain: unary(deps.logger, 'VerifyChain', async (request) => {
      const result = await deps.chain.verify(requireTenant(request.tenantId));
      return {
        valid: result.valid,
        recordsChecked: result.recordsChecked,
        firstBrokenSeq: result.firstBrokenSeq,
        problem: result.problem,
        headHash: result.headHash,
      };
    }),
  };
}
