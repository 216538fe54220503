import { ApiError, type Logger, readTextBody } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';

/** Paths the gateway forwards to the control plane unchanged (ARCHITECTURE §6). */
export const PROXIED_PATHS = new Set([
  '/v1/oauth/token',
  '/v1/oauth/revoke',
  '/api/v1/jwks',
  '/.well-known/jwks.json',
  '/.well-known/oauth-authorization-server',
]);

const FORWARDED_REQUEST_HEADERS = ['content-type', 'authorization', 'accept'];
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'cache-control',
  'pragma',
  'www-authenticate',
  'retry-after',
];

/**
 * Forwards OAuth requests to the internal control plane, so clients only ever see the
 * gateway. A successful revocation is also handed to the sidecar, so the gateway rejects
 * the revoked access token at once instead of when it expires.
 */
export function createOAuthProxy(options: {
  controlPlaneUrl: string;
  sidecar: SidecarClient;
  maxBodyBytes: number;
  logger: Logger;
}) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const body = request.method === 'POST' ? await readTextBody(request, options.maxBodyBytes) : undefined;
    const headers = new Headers();
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers.get(name);
      if (value) headers.set(name, value);
    }
    let upstream: Response;
    try {
      upstream = await fetch(new URL(url.pathname + url.search, options.controlPlaneUrl), {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'the authorization server is unavailable', {
        headers: { 'retry-after': '1' },
        cause: err,
        expose: true,
      });
    }
    if (url.pathname === '/v1/oauth/revoke' && upstream.status === 200 && body) {
      const token = revokedToken(body, request.headers.get('content-type'));
      if (token) {
        await options.sidecar.revokeToken({ token }).catch((err: unknown) => {
          options.logger.error('revocation could not be handed to the sidecar', { err });
        });
      }
    }
    const responseHeaders = new Headers();
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value) responseHeaders.set(name, value);
    }
    return new Response(upstream.body, { status: upstream.status, headers: responseHeaders });
  };
}

function revokedToken(body: string, contentType: string | null): string | undefined {
  try {
    if (contentType?.includes('json')) {
      const parsed = JSON.parse(body) as { token?: unknown };
      return typeof parsed.token === 'string' ? parsed.token : undefined;
    }
    return new URLSearchParams(body).get('token') ?? undefined;
  } catch {
    return undefined;
  }
}
