import type { HttpClient } from './http.js';

/** One record of the tenant audit chain, as `GET /v1/audit` returns it. */
export interface AuditRecord {
  seq: number;
  actor: string;
  client_id: string;
  action: string;
  resource: string;
  outcome: string;
  /** The HTTP status the audited request got; 0 for application events. */
  status: number;
  request_id: string;
  /** Emails, phone numbers and tokens were masked before the record was stored. */
  metadata: Record<string, unknown>;
  occurred_at: string;
  recorded_at: string;
  previous_hash: string;
  record_hash: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  resource?: string;
  outcome?: string;
  /** Inclusive lower bound on `occurred_at` (Date or RFC 3339). */
  from?: Date | string;
  /** Exclusive upper bound on `occurred_at`. */
  to?: Date | string;
  /** Page size, 1-500 (default 50). */
  first?: number;
  /** `nextCursor` of the previous page. */
  after?: string;
  /** Also recompute the whole chain and compare it with the signed checkpoints. */
  verifyChain?: boolean;
}

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `after` for the next page; `null` on the last one. */
  nextCursor: string | null;
  /** Set when `verifyChain` was requested. */
  chainValid: boolean | null;
  recordsChecked: number | null;
  /** The first sequence number that does not verify; 0 when valid. */
  firstBrokenSeq: number | null;
  problem: string | null;
  checkpointsChecked: number | null;
}

export interface AuditEventInput {
  /** e.g. `invoice.approve`. */
  action: string;
  /** e.g. `allow`, `deny`, `error`. */
  outcome: string;
  resource?: string;
  /** A JSON object; personal data in it is masked before storage. */
  metadata?: Record<string, unknown>;
  occurredAt?: Date | string;
}

const iso = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);

interface RawPage {
  records: AuditRecord[];
  next_cursor: string | null;
  chain_valid: boolean | null;
  records_checked: number | null;
  first_broken_seq: number | null;
  problem: string | null;
  checkpoints_checked: number | null;
}

/** `GET /v1/audit`; needs scope `audit:read`. The tenant is the token's. */
export async function queryAudit(http: HttpClient, query: AuditQuery = {}): Promise<AuditPage> {
  const page = await http.request<RawPage>('GET', '/v1/audit', {
    query: {
      actor: query.actor,
      action: query.action,
      resource: query.resource,
      outcome: query.outcome,
      from: iso(query.from),
      to: iso(query.to),
      first: query.first,
      after: query.after,
      verify_chain: query.verifyChain,
    },
  });
  return {
    records: page.records,
    nextCursor: page.next_cursor,
    chainValid: page.chain_valid,
    recordsChecked: page.records_checked,
    firstBrokenSeq: page.first_broken_seq,
    problem: page.problem,
    checkpointsChecked: page.checkpoints_checked,
  };
}

/** `POST /v1/audit/events`; needs scope `audit:write`. Returns the stored record. */
export function emitAuditEvent(http: HttpClient, input: AuditEventInput): Promise<AuditRecord> {
  return http.request<AuditRecord>('POST', '/v1/audit/events', {
    body: { ...input, occurredAt: iso(input.occurredAt) },
  });
}
