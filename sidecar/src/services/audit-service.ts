import type { KeyObject } from 'node:crypto';
import type { AuditEvent, AuditServiceServer } from '@cpod/proto';
import { ApiError, type Logger } from '@cpod/runtime';
import type { AuditChain, AuditEventData } from '../audit/audit-chain.js';
import { verifyChainWithCheckpoints } from '../audit/checkpoint.js';
import type { CheckpointSink } from '../audit/checkpoint-sink.js';
import { toProtoRecord } from '../audit/proto-record.js';
import { auditAppends } from '../metrics.js';
import { unary } from '../unary.js';

const TENANT = /^[\w-]{1,64}$/;
const IDEMPOTENCY_KEY = /^[\w-]{8,128}$/;
const MAX_BATCH = 500;

function optionalTime(value: string, field: string): Date | undefined {
  if (!value) return undefined;
  const time = new Date(value);
  if (Number.isNaN(time.getTime()))
    throw new ApiError('ERR_VALIDATION_FAILED', `${field} must be an RFC 3339 time`, { field });
  return time;
}

function requireTenant(tenantId: string): string {
  if (!TENANT.test(tenantId))
    throw new ApiError('ERR_VALIDATION_FAILED', 'tenant_id is required', { field: 'tenant_id' });
  return tenantId;
}

function toEventData(event: AuditEvent | undefined, field = 'event'): AuditEventData {
  const invalid = (name: string, message: string) =>
    new ApiError('ERR_VALIDATION_FAILED', `${field}.${name} ${message}`, { field: `${field}.${name}` });
  if (!event) throw new ApiError('ERR_VALIDATION_FAILED', `${field} is required`, { field });
  if (!event.action) throw invalid('action', 'is required');
  if (!event.outcome) throw invalid('outcome', 'is required');
  if (!TENANT.test(event.tenantId)) throw invalid('tenant_id', 'is required (letters, digits, _ and -)');
  if (event.idempotencyKey && !IDEMPOTENCY_KEY.test(event.idempotencyKey))
    throw invalid('idempotency_key', 'must be 8-128 letters, digits, _ or -');
  if (event.occurredAt) optionalTime(event.occurredAt, `${field}.occurred_at`);
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
    ...(event.idempotencyKey ? { idempotency_key: event.idempotencyKey } : {}),
  };
}

export interface AuditServiceDeps {
  chain: AuditChain;
  logger: Logger;
  /** The signed checkpoints VerifyChain compares the chain with. */
  checkpoints: { sink: CheckpointSink; publicKey: KeyObject };
}

export function auditService(deps: AuditServiceDeps): AuditServiceServer {
  return {
    emitAuditEvent: unary(deps.logger, 'EmitAuditEvent', async (request) => {
      const record = await deps.chain.append(toEventData(request.event));
      auditAppends.inc();
      return { record: toProtoRecord(record) };
    }),

    emitAuditEvents: unary(deps.logger, 'EmitAuditEvents', async (request) => {
      if (request.events.length > MAX_BATCH) {
        throw new ApiError('ERR_VALIDATION_FAILED', `events: at most ${MAX_BATCH} per batch`, {
          field: 'events',
        });
      }
      // Validate the whole batch first, so a bad event appends nothing rather than half a batch.
      const events = request.events.map((event, i) => toEventData(event, `events[${i}]`));
      const records = await deps.chain.appendBatch(events);
      auditAppends.inc({}, records.length);
      return { records: records.map(toProtoRecord) };
    }),

    queryAudit: unary(deps.logger, 'QueryAudit', async (request) => {
      const limit = request.pageSize || 50;
      if (limit > 500)
        throw new ApiError('ERR_VALIDATION_FAILED', 'page_size must be at most 500', { field: 'page_size' });
      if (request.pageToken && !/^\d{20}$/.test(request.pageToken))
        throw new ApiError('ERR_VALIDATION_FAILED', 'page_token is not a cursor of this API', {
          field: 'page_token',
        });
      const page = await deps.chain.query(
        requireTenant(request.tenantId),
        {
          actor: request.actor,
          action: request.action,
          resource: request.resource,
          outcome: request.outcome,
          from: optionalTime(request.occurredFrom, 'occurred_from'),
          to: optionalTime(request.occurredTo, 'occurred_to'),
        },
        { limit, after: request.pageToken || undefined },
      );
      return { records: page.records.map(toProtoRecord), nextPageToken: page.next ?? '' };
    }),

    verifyChain: unary(deps.logger, 'VerifyChain', async (request) => {
      const tenant = requireTenant(request.tenantId);
      const { sink, publicKey } = deps.checkpoints;
      const result = await verifyChainWithCheckpoints(
        tenant,
        deps.chain.all(tenant),
        await sink.read(tenant),
        publicKey,
      );
      return {
        valid: result.valid,
        recordsChecked: result.recordsChecked,
        firstBrokenSeq: result.firstBrokenSeq,
        problem: result.problem,
        headHash: result.headHash,
        checkpointsChecked: result.checkpointsChecked,
      };
    }),
  };
}
