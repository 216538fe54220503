import { ApiError, problemResponse } from '@cpod/runtime';

/**
 * An error response in the caller's protocol: GraphQL's `{errors: [...]}` on the GraphQL
 * endpoint, RFC 9457 problem+json everywhere else.
 */
export function errorResponse(request: Request, graphqlEndpoint: string, err: unknown): Response {
  const error = ApiError.from(err);
  if (new URL(request.url).pathname !== graphqlEndpoint) return problemResponse(error);
  const body = { errors: [{ message: error.publicMessage, extensions: { code: error.code } }] };
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: { ...error.headers, 'content-type': 'application/json; charset=utf-8' },
  });
}

/** The fail-closed answer when the sidecar cannot be asked. */
export function sidecarUnavailable(cause: unknown): ApiError {
  return new ApiError('ERR_SIDECAR_UNAVAILABLE', 'authorization service unavailable, retry shortly', {
    headers: { 'retry-after': '1' },
    cause,
    expose: true,
  });
}

/**
 * The sidecar answered that its rate limit store is down (fail mode closed): the request is
 * refused like an unreachable sidecar, with its own message.
 */
export function rateLimitUnavailable(cause: unknown): ApiError {
  return new ApiError('ERR_STORE_UNAVAILABLE', 'rate limiting unavailable, retry shortly', {
    headers: { 'retry-after': '1' },
    cause,
    expose: true,
  });
}
