import { ApiError } from '@cpod/runtime';
import { type SidecarClient, SidecarError } from '@cpod/sdk';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { toGraphQLError } from '../errors.js';
import { requestState } from '../request-state.js';
import { rateLimitUnavailable, sidecarUnavailable } from './render-error.js';

interface RateLimitClaim {
  capacity?: unknown;
  refill_per_second?: unknown;
}

/** The app's registered limit, which the control plane puts in the token's `rate_limit` claim. */
function appLimit(claims: Record<string, unknown> | undefined) {
  const claim = claims?.rate_limit as RateLimitClaim | undefined;
  const { capacity, refill_per_second: refill } = claim ?? {};
  return typeof capacity === 'number' && capacity >= 1 && typeof refill === 'number' && refill > 0
    ? { capacity, refillPerSecond: refill }
    : undefined;
}

function unavailable(err: unknown): ApiError {
  // The sidecar was reached but its store is down and the fail mode is closed.
  if (err instanceof SidecarError && err.code === 'ERR_STORE_UNAVAILABLE') return rateLimitUnavailable(err);
  return sidecarUnavailable(err);
}

/**
 * Step 4: one token per request from the bucket of the token's tenant + client, with the
 * app's own limit when it registered one and the platform default otherwise. Headers follow
 * the IETF RateLimit header fields draft (RateLimit-Limit/-Remaining/-Reset, seconds); a 429
 * adds Retry-After, and on GraphQL the same numbers travel in `extensions.rateLimit`.
 */
export function useRateLimit(options: { sidecar: SidecarClient }): Plugin<GatewayContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const state = requestState(args.contextValue.request);
      const principal = state.principal;
      if (!principal) return; // anonymous console introspection: nothing to charge
      let result: Awaited<ReturnType<SidecarClient['checkRateLimit']>>;
      try {
        result = await options.sidecar.checkRateLimit({
          bucket: { tenantId: principal.tenantId, clientId: principal.clientId, key: '' },
          cost: 1,
          limit: appLimit(principal.claims),
        });
      } catch (err) {
        state.outcome = 'error';
        return setResultAndStopExecution({ errors: [toGraphQLError(unavailable(err))] });
      }
      if (result.failOpen) state.failOpen = true;
      const reset = Math.ceil(result.resetAfterMs / 1000);
      const headers = {
        'ratelimit-limit': String(result.limit),
        'ratelimit-remaining': String(result.remaining),
        'ratelimit-reset': String(reset),
      };
      Object.assign(state.headers, headers);
      if (result.allowed) return;
      state.outcome = 'rate_limited';
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      const base = toGraphQLError(
        new ApiError('ERR_RATE_LIMITED', `rate limit exceeded, retry in ${retryAfter} s`, {
          headers: { ...headers, 'retry-after': String(retryAfter) },
        }),
      );
      // yoga strips `extensions.http` from GraphQL responses, so the numbers get their own key.
      const error = new GraphQLError(base.message, {
        extensions: {
          ...base.extensions,
          rateLimit: { limit: result.limit, remaining: result.remaining, reset, retryAfter },
        },
      });
      setResultAndStopExecution({ errors: [error] });
    },
  };
}
