import type { AuditRecord } from '@cpod/proto';
import { ApiError } from '@cpod/runtime';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';
import { authz, builder } from './builder.js';

interface AuditPage {
  records: AuditRecord[];
  nextCursor: string | null;
  chainValid: boolean | null;
  recordsChecked: number | null;
  firstBrokenSeq: number | null;
  problem: string | null;
  checkpointsChecked: number | null;
}

function tenantOf(ctx: GatewayContext): string {
  // From the validated token only: there is no argument that could name another tenant.
  if (!ctx.tenantId) throw new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required');
  return ctx.tenantId;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('ERR_VALIDATION_FAILED', `${field}: ${message}`, { field });
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
    metadata: t.field({ type: 'JSON', resolve: (r) => r.event?.metadata ?? {} }),
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
    checkpointsChecked: t.exposeInt('checkpointsChecked', {
      nullable: true,
      description: 'Signed checkpoints the chain was compared with (set when verifyChain was requested).',
    }),
  }),
});

builder.queryField('audit', (t) =>
  t.field({
    type: AuditPageRef,
    description:
      "Your tenant's audit records, oldest first, filtered by equality on actor, action, resource and outcome and by occurredAt in [from, to); verifyChain recomputes every link of the chain and compares it with the signed checkpoints.",
    args: {
      verifyChain: t.arg.boolean(),
      first: t.arg.int(),
      after: t.arg.string(),
      actor: t.arg.string(),
      action: t.arg.string(),
      resource: t.arg.string(),
      outcome: t.arg.string(),
      from: t.arg({ type: 'DateTime', description: 'Inclusive lower bound on occurredAt.' }),
      to: t.arg({ type: 'DateTime', description: 'Exclusive upper bound on occurredAt.' }),
    },
    extensions: authz('audit', 'read'),
    resolve: async (_root, args, ctx: GatewayContext) => {
      const tenantId = tenantOf(ctx);
      const first = args.first ?? 50;
      if (!Number.isInteger(first) || first < 1 || first > 500)
        throw invalid('first', 'must be an integer from 1 to 500');
      if (args.after && !/^\d{20}$/.test(args.after)) throw invalid('after', 'is not a cursor of this API');
      const [page, verification] = await Promise.all([
        ctx.sidecar.queryAudit({
          tenantId,
          pageSize: first,
          pageToken: args.after ?? '',
          actor: args.actor ?? '',
          action: args.action ?? '',
          resource: args.resource ?? '',
          outcome: args.outcome ?? '',
          occurredFrom: args.from ?? '',
          occurredTo: args.to ?? '',
        }),
        args.verifyChain ? ctx.sidecar.verifyChain(tenantId) : undefined,
      ]);
      return {
        records: page.records,
        nextCursor: page.nextPageToken || null,
        chainValid: verification ? verification.valid : null,
        recordsChecked: verification ? verification.recordsChecked : null,
        firstBrokenSeq: verification ? verification.firstBrokenSeq : null,
        problem: verification?.problem || null,
        checkpointsChecked: verification ? verification.checkpointsChecked : null,
      };
    },
  }),
);

const EmitAuditEventInput = builder.inputType('EmitAuditEventInput', {
  description: 'An application event for your tenant chain; actor and tenant come from the token.',
  fields: (t) => ({
    action: t.string({ required: true, description: 'e.g. "invoice.approve".' }),
    outcome: t.string({ required: true, description: 'e.g. "allow", "deny", "error".' }),
    resource: t.string({ description: 'e.g. "invoices/inv_42".' }),
    metadata: t.field({
      type: 'JSON',
      description: 'A JSON object; emails, phone numbers and tokens in it are masked before storage.',
    }),
    occurredAt: t.field({ type: 'DateTime', description: 'Defaults to now.' }),
  }),
});

const NAME = /^[\w.:/-]{1,200}$/;

builder.mutationField('emitAuditEvent', (t) =>
  t.field({
    type: AuditRecordRef,
    description: 'Appends one event to your tenant audit chain and returns the stored record.',
    args: { input: t.arg({ type: EmitAuditEventInput, required: true }) },
    extensions: authz('audit', 'create'),
    resolve: async (_root, { input }, ctx: GatewayContext) => {
      const tenantId = tenantOf(ctx);
      if (!NAME.test(input.action)) throw invalid('input.action', 'must be 1-200 letters, digits or ._:/-');
      if (!NAME.test(input.outcome)) throw invalid('input.outcome', 'must be 1-200 letters, digits or ._:/-');
      if (input.resource && input.resource.length > 500)
        throw invalid('input.resource', 'is longer than 500');
      const metadata = input.metadata ?? {};
      if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
        throw invalid('input.metadata', 'must be a JSON object');
      const record = await ctx.sidecar.emitAuditEvent({
        tenantId,
        actor: ctx.principal?.subject || 'anonymous',
        clientId: ctx.principal?.clientId ?? '',
        action: input.action,
        resource: input.resource ?? '',
        outcome: input.outcome,
        // Not an HTTP exchange: the request that carried it is audited on its own.
        status: 0,
        requestId: requestState(ctx.request).requestId,
        metadata: metadata as Record<string, unknown>,
        occurredAt: input.occurredAt ?? new Date().toISOString(),
      });
      if (!record) throw new ApiError('ERR_INTERNAL', 'the sidecar returned no record');
      return record;
    },
  }),
);
