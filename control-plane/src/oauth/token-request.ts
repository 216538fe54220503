import { ApiError, readTextBody } from '@cpod/runtime';
import { OAuthError } from './oauth-error.js';

export interface ClientCredentials {
  clientId: string;
  /** Undefined for `none`: a public client names itself and proves nothing. */
  clientSecret: string | undefined;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

/** Reads an OAuth endpoint body: form-encoded per RFC 6749, JSON accepted too. */
export async function readOAuthParams(request: Request, maxBytes: number): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readTextBody(request, maxBytes);
  } catch (err) {
    throw new OAuthError('invalid_request', ApiError.from(err).publicMessage);
  }
  const type = request.headers.get('content-type') ?? '';
  const params = new Map<string, string>();
  if (/^application\/json\b/i.test(type)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OAuthError('invalid_request', 'request body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new OAuthError('invalid_request', 'request body must be a JSON object');
    }
    for (const [key, value] of Object.entries(body)) {
      if (typeof value !== 'string')
        throw new OAuthError('invalid_request', `parameter ${key} must be a string`);
      params.set(key, value);
    }
    return params;
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new OAuthError('invalid_request', 'use content-type application/x-www-form-urlencoded');
  }
  for (const [key, value] of new URLSearchParams(text)) {
    // RFC 6749 §3.2: parameters must not be repeated.
    if (params.has(key)) throw new OAuthError('invalid_request', `parameter ${key} is repeated`);
    params.set(key, value);
  }
  return params;
}

/**
 * Client authentication by HTTP Basic or by body parameters — exactly one of them (RFC 6749
 * §2.3.1) — or, for public clients, a bare `client_id` in the body (`none`). Whether `none` is
 * acceptable for this client is decided by the caller, once it knows the client's type.
 */
export function readClientCredentials(request: Request, params: Map<string, string>): ClientCredentials {
  const header = request.headers.get('authorization');
  const inBody = params.has('client_id') || params.has('client_secret');
  if (header) {
    if (params.has('client_secret')) {
      throw new OAuthError('invalid_request', 'use one client authentication method, not two');
    }
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic authorization header');
    try {
      return {
        clientId: decodeFormComponent(decoded.slice(0, colon)),
        clientSecret: decodeFormComponent(decoded.slice(colon + 1)),
        method: 'client_secret_basic',
      };
    } catch {
      throw new OAuthError('invalid_client', 'malformed Basic authorization header');
    }
  }
  if (!inBody) throw new OAuthError('invalid_client', 'client authentication is required');
  const clientId = params.get('client_id') ?? '';
  if (!clientId) throw new OAuthError('invalid_client', 'client_id is required');
  const clientSecret = params.get('client_secret');
  if (clientSecret === undefined) return { clientId, clientSecret: undefined, method: 'none' };
  if (!clientSecret) throw new OAuthError('invalid_client', 'client_secret is empty');
  return { clientId, clientSecret, method: 'client_secret_post' };
}

// RFC 6749 §2.3.1 form-encodes id and secret before Basic encoding them.
function decodeFormComponent(value: string): string {
  return decodeURIComponent(value.replaceAll('+', ' '));
}
