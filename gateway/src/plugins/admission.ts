import type { AccessCheck } from '@cpod/proto';
import { ApiError } from '@cpod/runtime';
import { type SidecarClient, SidecarError } from '@cpod/sdk';
import { GraphQLError } from 'graphql';
import { toGraphQLError } from '../errors.js';
import type { RequestState } from '../request-state.js';
import { rateLimitUnavailable, sidecarUnavailable } from './render-error.js';
import type { RootField } from './root-fields.js';

export function unauthorized(
  description: string,
  code: 'ERR_AUTH_MISSING_TOKEN' | 'ERR_AUTH_INVALID_TOKEN',
): ApiError {
  // error="invalid_token" also for a missing token: clients need one rule to know when to fetch a new token.
  const challenge = `Bearer realm="cpod", error="invalid_token", error_description="${description}"`;
  return new ApiError(code, description, { headers: { 'www-authenticate': challenge } });
}

/** What the operation needs authorized: one check per distinct `{resource, action}` of its root fields. */
export interface AccessPlan {
  checks: AccessCheck[];
  /** A root field without authorization metadata: the request is denied once the token is known to be good. */
  unannotated?: string;
  /** The operation is not known (its document does not parse): check the token, charge nothing. */
  tokenOnly?: boolean;
}

export function accessPlan(fields: RootField[]): AccessPlan {
  const checked = fields.filter((f) => !f.introspection);
  const unannotated = checked.find((f) => !f.authz)?.name;
  if (unannotated) return { checks: [], unannotated };
  const pairs = new Map(checked.map((f) => [`${f.authz!.resource}.${f.authz!.action}`, f.authz!]));
  return { checks: [...pairs.values()].map(({ action, resource }) => ({ action, resource })) };
}

export interface Admission {
  /** Why the request may not proceed; undefined when it may. */
  error?: ApiError;
  /** The bucket's numbers, for GraphQL's `extensions.rateLimit` (REST reads the RateLimit-* headers). */
  rateLimit?: { limit: number; remaining: number; reset: number; retryAfter?: number };
}

/**
 * Steps 2–4 of the request path in one sidecar round trip (AuthService.Check), once per request:
 * whichever hook first knows the operation (useRest for a REST route, the GraphQL params hook,
 * else onExecute) starts it, and later hooks get the same answer. The token is checked before
 * any caller input beyond the operation itself is read.
 */
export function admit(
  sidecar: SidecarClient,
  state: RequestState,
  plan: AccessPlan,
  options: { rateLimit: boolean },
): Promise<Admission> {
  state.admission ??= check(sidecar, state, plan, options);
  return state.admission;
}

async function check(
  sidecar: SidecarClient,
  state: RequestState,
  plan: AccessPlan,
  options: { rateLimit: boolean },
): Promise<Admission> {
  const refuse = (outcome: string, error: ApiError, rateLimit?: Admission['rateLimit']): Admission => {
    state.outcome = outcome;
    state.reason = error.message;
    return { error, rateLimit };
  };
  if (!state.token)
    return refuse('unauthenticated', unauthorized('missing bearer token', 'ERR_AUTH_MISSING_TOKEN'));
  let response: Awaited<ReturnType<SidecarClient['check']>>;
  try {
    response = await sidecar.check({
      token: state.token,
      checks: plan.checks,
      // An unannotated field is denied below; it must not spend the caller's budget first.
      rateLimitCost: options.rateLimit && !plan.unannotated && !plan.tokenOnly ? 1 : 0,
    });
  } catch (err) {
    // The sidecar was reached but its rate limit store is down and the fail mode is closed.
    const storeDown = err instanceof SidecarError && err.code === 'ERR_STORE_UNAVAILABLE';
    return refuse('error', storeDown ? rateLimitUnavailable(err) : sidecarUnavailable(err));
  }
  // Decided in-process against the cached JWKS and the default scope rule: the sidecar could not be asked.
  if (response.failOpen) state.failOpen = true;
  const { token, decision, deniedCheck, rateLimit } = response;
  if (!token?.valid || !token.principal) {
    return refuse(
      'unauthenticated',
      unauthorized(`token rejected: ${token?.reason ?? 'unknown'}`, 'ERR_AUTH_INVALID_TOKEN'),
    );
  }
  state.principal = token.principal;
  if (decision && !decision.allowed) {
    const { action, resource } = deniedCheck ?? { action: '?', resource: '?' };
    return refuse(
      'deny',
      new ApiError('ERR_POLICY_DENIED', `not allowed to ${action} ${resource}: ${decision.reason}`),
    );
  }
  if (plan.unannotated) {
    return refuse(
      'deny',
      new ApiError('ERR_POLICY_DENIED', `field ${plan.unannotated} has no authorization rule`),
    );
  }
  if (!rateLimit) return {};
  // The IETF RateLimit header fields draft (RateLimit-Limit/-Remaining/-Reset, seconds).
  const reset = Math.ceil(rateLimit.resetAfterMs / 1000);
  const headers = {
    'ratelimit-limit': String(rateLimit.limit),
    'ratelimit-remaining': String(rateLimit.remaining),
    'ratelimit-reset': String(reset),
  };
  Object.assign(state.headers, headers);
  const numbers = { limit: rateLimit.limit, remaining: rateLimit.remaining, reset };
  if (rateLimit.allowed) return { rateLimit: numbers };
  const retryAfter = Math.max(1, Math.ceil(rateLimit.retryAfterMs / 1000));
  return refuse(
    'rate_limited',
    new ApiError('ERR_RATE_LIMITED', `rate limit exceeded, retry in ${retryAfter} s`, {
      headers: { ...headers, 'retry-after': String(retryAfter) },
    }),
    { ...numbers, retryAfter },
  );
}

/** A refusal as a GraphQL error; yoga strips `extensions.http` from responses, so the bucket gets its own key. */
export function admissionGraphQLError(error: ApiError, rateLimit: Admission['rateLimit']): GraphQLError {
  const base = toGraphQLError(error);
  if (error.code !== 'ERR_RATE_LIMITED' || !rateLimit) return base;
  return new GraphQLError(base.message, { extensions: { ...base.extensions, rateLimit } });
}
