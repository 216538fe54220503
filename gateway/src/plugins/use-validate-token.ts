import { ApiError } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';
import { errorResponse, sidecarUnavailable } from './render-error.js';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

function unauthorized(
  description: string,
  code: 'ERR_AUTH_MISSING_TOKEN' | 'ERR_AUTH_INVALID_TOKEN',
): ApiError {
  // error="invalid_token" also for a missing token: clients need one rule to know when to fetch a new token.
  const challenge = `Bearer realm="cpod", error="invalid_token", error_description="${description}"`;
  return new ApiError(code, description, { headers: { 'www-authenticate': challenge } });
}

/**
 * Step 1-2 of the request path: reads `Authorization: Bearer` (only the header — never a
 * query string or cookie) and asks the sidecar to validate it, before the request body is
 * even parsed. Runs as a yoga onRequest hook, so REST and GraphQL requests both pass it.
 */
export function useValidateToken(options: {
  sidecar: SidecarClient;
  graphqlEndpoint: string;
  /** Console only: requests without a token continue, and useAuthorize admits them for introspection alone. */
  allowAnonymous?: boolean;
}): Plugin<GatewayContext> {
  return {
    async onRequest({ request, endResponse }) {
      const state = requestState(request);
      const header = request.headers.get('authorization');
      const fail = (err: ApiError) => {
        state.outcome = err.status === 503 ? 'error' : 'unauthenticated';
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
      try {
        const result = await options.sidecar.validateToken(token);
        if (!result.valid || !result.principal)
          return fail(unauthorized(`token rejected: ${result.reason}`, 'ERR_AUTH_INVALID_TOKEN'));
        state.principal = result.principal;
        // Verified in-process against the cached JWKS because the sidecar could not be asked.
        if (result.failOpen) state.failOpen = true;
      } catch (err) {
        fail(sidecarUnavailable(err));
      }
    },
    onContextBuilding({ context, extendContext }) {
      const { principal } = requestState(context.request);
      extendContext({ principal, tenantId: principal?.tenantId });
    },
  };
}
