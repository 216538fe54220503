import { ApiError } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { toGraphQLError } from '../errors.js';
import { requestState } from '../request-state.js';
import { sidecarUnavailable } from './render-error.js';

interface RateLimitClaim {
  capacity?: unknown;
  refill_per_second?: unknown;
}

/**
 * Step 4: one token per request from the bucket of the token's tenant + client, with the
 * app's own limit when the token carries one. Headers follow the IETF RateLimit fields draft.
 */
export function useRateLimit(options: { sidecar: SidecarClient }): Plugin<GatewayContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const state = requestState(args.contextValue.request);
      const principal = state.principal;
      if (!principal) return; // anonymous console introspection: nothing to charge
      const claim = principal.claims?.rate_limit as RateLimitClaim | undefined;
      const limit =
        typeof claim?.capacity === 'number' && typeof claim.refill_per_second === 'number'
          ? { capacity: claim.capacity, refillPerSecond: claim.refill_per_second }
          : undefined;
      let result: Awaited<ReturnType<SidecarClient['checkRateLimit']>>;
      try {
        result = await options.sidecar.checkRateLimit({
          bucket: { tenantId: principal.tenantId, clientId: principal.clientId, key: '' },
          cost: 1,
          limit,
        });
      } catch (err) {
        state.outcome = 'error';
        return setResultAndStopExecution({ errors: [toGraphQLError(sidecarUnavailable(err))] });
      }
      const headers = {
        'ratelimit-limit': String(result.limit),
        'ratelimit-remaining': String(result.remaining),
        'ratelimit-reset': String(Math.ceil(result.resetAfterMs / 1000)),
      };
      Object.assign(state.headers, headers);
      if (!result.allowed) {
        state.outcome = 'rate_limited';
        const retryAfter = String(Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
        const err = new ApiError('ERR_RATE_LIMITED', `rate limit exceeded, retry in ${retryAfter} s`, {
          headers: { ...headers, 'retry-after': retryAfter },
        });
        setResultAndStopExecution({ errors: [toGraphQLError(err)] });
      }
    },
  };
}
