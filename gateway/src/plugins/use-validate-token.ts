import type { ApiError } from '@cpod/runtime';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';
import { unauthorized } from './admission.js';
import { errorResponse } from './render-error.js';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * Step 1 of the request path: reads `Authorization: Bearer` (only the header — never a
 * query string or cookie) before anything else, and refuses a request without one at once.
 * The sidecar checks the token itself in the request's one AuthService.Check (admission.ts),
 * as soon as the operation is known and before any further caller input is read.
 */
export function useValidateToken(options: {
  graphqlEndpoint: string;
  /** Console only: requests without a token continue, and useAuthorize admits them for introspection alone. */
  allowAnonymous?: boolean;
}): Plugin<GatewayContext> {
  return {
    onRequest({ request, endResponse }) {
      const state = requestState(request);
      const header = request.headers.get('authorization');
      const fail = (err: ApiError) => {
        state.outcome = 'unauthenticated';
        state.reason = err.message;
        endResponse(errorResponse(request, options.graphqlEndpoint, err));
      };
      if (!header) {
        if (!options.allowAnonymous) fail(unauthorized('missing bearer token', 'ERR_AUTH_MISSING_TOKEN'));
        return;
      }
      const token = BEARER.exec(header)?.[1];
      if (!token)
        return fail(unauthorized('authorization header must be "Bearer <token>"', 'ERR_AUTH_INVALID_TOKEN'));
      state.token = token;
    },
    onContextBuilding({ context, extendContext }) {
      const { principal } = requestState(context.request);
      extendContext({ principal, tenantId: principal?.tenantId });
    },
  };
}
