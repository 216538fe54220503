import { ApiError } from '@cpod/runtime';
import type { GatewayContext } from '../context.js';
import { fromSidecarError } from '../errors.js';
import { authz, builder } from './builder.js';

interface PolicyDecision {
  defined: boolean;
  allowed: boolean;
  result: unknown;
  reason: string;
}

// Same spelling the sidecar accepts: `cpod/authz/allow`, `cpod.authz.allow`, `data.cpod.authz.allow`.
const POLICY_PATH = /^(data\.)?[A-Za-z_]\w*([./][A-Za-z_]\w*)*$/;

const EvaluatePolicyInput = builder.inputType('EvaluatePolicyInput', {
  fields: (t) => ({
    path: t.string({ required: true, description: 'Rule to evaluate, e.g. "cpod/authz/decision".' }),
    input: t.field({ type: 'JSON', description: 'The document the policy sees as `input`.' }),
  }),
});

const PolicyDecisionRef = builder.objectRef<PolicyDecision>('PolicyDecision').implement({
  description: 'The value of a policy rule for one input.',
  fields: (t) => ({
    defined: t.exposeBoolean('defined', { description: 'False when the rule is undefined for this input.' }),
    allowed: t.exposeBoolean('allowed', {
      description: 'True when the result is `true`, or an object whose `allow` is true.',
    }),
    result: t.field({ type: 'JSON', nullable: true, resolve: (d) => d.result ?? null }),
    reason: t.exposeString('reason', { description: 'The result\'s "reason", when it has one.' }),
  }),
});

builder.queryField('evaluatePolicy', (t) =>
  t.field({
    type: PolicyDecisionRef,
    description: 'Evaluates a loaded policy rule against an input (scope policy:evaluate).',
    args: { input: t.arg({ type: EvaluatePolicyInput, required: true }) },
    extensions: authz('policy', 'evaluate'),
    resolve: async (_root, { input }, ctx: GatewayContext) => {
      if (!POLICY_PATH.test(input.path)) {
        throw new ApiError(
          'ERR_VALIDATION_FAILED',
          `path: "${input.path}" is not a policy path like cpod/authz/decision`,
          {
            field: 'path',
          },
        );
      }
      try {
        const response = await ctx.sidecar.evaluatePolicy(input.path, input.input ?? null);
        return {
          defined: response.defined,
          allowed: response.allowed,
          result: response.result,
          reason: response.reason,
        };
      } catch (err) {
        throw fromSidecarError(err);
      }
    },
  }),
);
