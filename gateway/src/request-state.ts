import type { Principal } from '@cpod/proto';
import type { Admission } from './plugins/admission.js';

/**
 * What the plugin chain learns about one HTTP request, keyed by the Request object so
 * that yoga-level hooks (token check, audit) and envelop hooks (authorize, rate limit)
 * share it for REST and GraphQL alike.
 */
export interface RequestState {
  requestId: string;
  /** The bearer token as sent; checked by the sidecar in `admission`. */
  token?: string;
  /** The request's one AuthService.Check (plugins/admission.ts), once started. */
  admission?: Promise<Admission>;
  /** Set once the sidecar (or, failing open, the local check) accepted the token. */
  principal?: Principal;
  /** e.g. `people.create`; the operation's root fields for GraphQL. */
  action: string;
  /** e.g. `people/per_0j...` or `people`. */
  resource: string;
  /** Set by a plugin that decided the outcome (deny, rate_limited...); otherwise derived from the status. */
  outcome?: string;
  reason?: string;
  /** The sidecar was unreachable and CORESDK_FAIL_MODE=open let the request through on a local token check. */
  failOpen?: boolean;
  /** Response headers a plugin wants on the final response (RateLimit-*). */
  headers: Record<string, string>;
}

const states = new WeakMap<Request, RequestState>();

export function requestState(request: Request): RequestState {
  let state = states.get(request);
  if (!state) {
    state = { requestId: crypto.randomUUID(), action: '', resource: '', headers: {} };
    states.set(request, state);
  }
  return state;
}
