import type { AuditRecord } from '@cpod/proto';
import { ApiError } from '@cpod/runtime';
import type { GatewayContext } from '../context.js';
import { authz, builder } from './builder.js';

interface AuditPage {
  records: AuditRecord[];
  nextCursor: string | null;
  chainValid: boolean | null;
  recordsChecked: number | null;
  firstBrokenSeq: number | null;
  problem: string | null;
}

const AuditRecordRef = builder.objectRef<AuditRecord>('AuditRecord').implement({
  description: 'One entry of the tenant audit chain.',
  fields: (t) => ({
    seq: t.int({ resolve: (r) => r.seq }),
    actor: t.string({ resolve: (r) => r.event?.actor ?? '' }),
    clientId: t.string({ resolve: (r) => r.event?.clientId ?? '' }),
    action: t.string({ resolve: (r) => r.event?.action ?? '' }),
    resource: t.string({ resolve: (r) => r.event?.resource ?? '' }),
    outcome: t.string({ resolve: (r) => r.event?.outcome ?? '' }),
    status: t.int({ resolve: (r) => r.event?.status ?? 0 }),
    requestId: t.string({ resolve: (r) => r.event?.requestId ?? '' }),
    occurredAt: t.field({ type: 'DateTime', resolve: (r) => r.event?.occurredAt ?? r.recordedAt }),
    recordedAt: t.field({ type: 'DateTime', resolve: (r) => r.recordedAt }),
    previousHash: t.exposeString('previousHash'),
    recordHash: t.exposeString('recordHash'),
  }),
});

const AuditPageRef = builder.objectRef<AuditPage>('AuditPage').implement({
  fields: (t) => ({
    records: t.field({ type: [AuditRecordRef], resolve: (p) => p.records }),
    nextCursor: t.exposeString('nextCursor', { nullable: true }),
    chainValid: t.exposeBoolean('chainValid', {
      nullable: true,
      description: 'Set when verifyChain was requested.',
    }),
    recordsChecked: t.exposeInt('recordsChecked', { nullable: true }),
    firstBrokenSeq: t.exposeInt('firstBrokenSeq', { nullable: true }),
    problem: t.exposeString('problem', { nullable: true }),
  }),
});

builder.queryField('audit', (t) =>
  t.field({
    type: AuditPageRef,
    description: "Your tenant's audit records, oldest first; verifyChain recomputes every link of the chain.",
    args: { verifyChain: t.arg.boolean(), first: t.arg.int(), after: t.arg.string() },
    extensions: authz('audit', 'read'),
    resolve: async (_root, args, ctx: GatewayContext) => {
      if (!ctx.tenantId) throw new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required');
      const first = args.first ?? 50;
      if (!Number.isInteger(first) || first < 1 || first > 500) {
        throw new ApiError('ERR_VALIDATION_FAILED', 'first: must be an integer from 1 to 500', {
          field: 'first',
        });
      }
      const [page, verification] = await Promise.all([
        ctx.sidecar.queryAudit({ tenantId: ctx.tenantId, pageSize: first, pageToken: args.after ?? '' }),
        args.verifyChain ? ctx.sidecar.verifyChain(ctx.tenantId) : undefined,
      ]);
      return {
        records: page.records,
        nextCursor: page.nextPageToken || null,
        chainValid: verification ? verification.valid : null,
        recordsChecked: verification ? verification.recordsChecked : null,
        firstBrokenSeq: verification ? verification.firstBrokenSeq : null,
        problem: verification?.problem || null,
      };
    },
  }),
);
