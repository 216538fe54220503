import { ApiError } from '@cpod/runtime';
import { SidecarError } from '@cpod/sdk';
import type { GatewayContext } from '../context.js';
import { fromSidecarError } from '../errors.js';
import { rateLimitUnavailable } from '../plugins/render-error.js';
import { authz, builder } from './builder.js';

interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetAt: string;
  retryAfterSeconds: number;
}

// The sidecar's rule for custom keys; checked here too so the caller learns which field is wrong.
const KEY = /^[\w.:@-]{1,200}$/;
const MAX_LIMIT = 1_000_000;
const MAX_WINDOW_SECONDS = 86_400;

const CheckRateLimitInput = builder.inputType('CheckRateLimitInput', {
  fields: (t) => ({
    key: t.string({
      required: true,
      description: 'Your key, e.g. "user:42:export": 1-200 of letters, digits, "_", ".", ":", "@", "-".',
    }),
    limit: t.int({
      required: true,
      description: 'Calls allowed per window (the bucket capacity), 1-1000000.',
    }),
    windowSeconds: t.int({
      required: true,
      description: 'The window in seconds, 1-86400: the bucket refills `limit` tokens per window.',
    }),
  }),
});

const RateLimitDecisionRef = builder.objectRef<RateLimitDecision>('RateLimitDecision').implement({
  description: 'The answer for one call against a custom rate limit key.',
  fields: (t) => ({
    allowed: t.exposeBoolean('allowed', { description: 'Whether this call is within the limit.' }),
    limit: t.exposeInt('limit'),
    remaining: t.exposeInt('remaining', { description: 'Whole calls left right now.' }),
    resetAt: t.field({
      type: 'DateTime',
      description: 'When the bucket is full again.',
      resolve: (d) => d.resetAt,
    }),
    retryAfterSeconds: t.exposeInt('retryAfterSeconds', {
      description: 'When not allowed, seconds until a call could be; 0 otherwise.',
    }),
  }),
});

function validate(input: { key: string; limit: number; windowSeconds: number }): void {
  const fail = (field: string, message: string) => {
    throw new ApiError('ERR_VALIDATION_FAILED', `${field}: ${message}`, { field });
  };
  if (!KEY.test(input.key)) fail('key', 'must be 1-200 of letters, digits, "_", ".", ":", "@", "-"');
  if (input.limit < 1 || input.limit > MAX_LIMIT) fail('limit', `must be from 1 to ${MAX_LIMIT}`);
  if (input.windowSeconds < 1 || input.windowSeconds > MAX_WINDOW_SECONDS)
    fail('windowSeconds', `must be from 1 to ${MAX_WINDOW_SECONDS}`);
}

builder.mutationField('checkRateLimit', (t) =>
  t.field({
    type: RateLimitDecisionRef,
    description:
      'Takes one call from a rate limit bucket of your own (scope rate_limits:write). The key is ' +
      'namespaced by your tenant, shared by all your apps and replicas; a refused call is ' +
      '`allowed: false`, not an error.',
    args: { input: t.arg({ type: CheckRateLimitInput, required: true }) },
    extensions: authz('rate_limits', 'update'),
    resolve: async (_root, { input }, ctx: GatewayContext) => {
      if (!ctx.tenantId) throw new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required');
      validate(input);
      try {
        const result = await ctx.sidecar.checkRateLimit({
          bucket: { tenantId: ctx.tenantId, clientId: '', key: input.key },
          cost: 1,
          limit: { capacity: input.limit, refillPerSecond: input.limit / input.windowSeconds },
        });
        return {
          allowed: result.allowed,
          limit: result.limit,
          remaining: result.remaining,
          resetAt: new Date(Date.now() + result.resetAfterMs).toISOString(),
          retryAfterSeconds: result.allowed ? 0 : Math.max(1, Math.ceil(result.retryAfterMs / 1000)),
        };
      } catch (err) {
        if (err instanceof SidecarError && err.code === 'ERR_STORE_UNAVAILABLE')
          throw rateLimitUnavailable(err);
        throw fromSidecarError(err);
      }
    },
  }),
);
