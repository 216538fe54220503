import type { Collection } from '@cpod/runtime';
import { type AppRecord, PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { matchesRegisteredRedirectUri } from '../apps/redirect-uri.js';
import { CODE_CHALLENGE } from './pkce.js';

/** RFC 6749 §4.1.2.1 error codes, returned to the client on its redirect URI. */
export type AuthorizeErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'unsupported_response_type'
  | 'invalid_scope';

export interface AuthorizationRequest {
  app: AppRecord;
  redirectUri: string;
  scopes: string[];
  state: string | undefined;
  codeChallenge: string;
  /** The request's own parameters, carried through the login form and checked again on POST. */
  forward: Record<string, string>;
}

export type AuthorizeCheck =
  | { ok: true; request: AuthorizationRequest }
  /** Shown to the user; never a redirect, since the redirect target is not trusted. */
  | { ok: false; kind: 'page'; message: string }
  | {
      ok: false;
      kind: 'redirect';
      redirectUri: string;
      state: string | undefined;
      error: AuthorizeErrorCode;
      description: string;
    };

const FORWARDED = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;
const MAX_STATE = 2048;

/**
 * Validates an authorization request in the order RFC 6749 §4.1.2.1 requires: until the client
 * and its redirect URI are known to be genuine, errors are shown as a page (redirecting to an
 * unverified URI is an open redirect); after that, they go back to the client with `state`.
 */
export async function checkAuthorizationRequest(
  apps: Collection<AppRecord>,
  params: Map<string, string>,
  repeated: ReadonlySet<string>,
): Promise<AuthorizeCheck> {
  const clientId = params.get('client_id');
  if (!clientId || repeated.has('client_id')) {
    return page('The request does not name exactly one client (client_id).');
  }
  const app = clientId.length <= 100 ? await apps.get(PLATFORM_NAMESPACE, clientId) : null;
  if (!app) return page('The application that sent you here is not registered.');
  const redirectUri = params.get('redirect_uri');
  if (!redirectUri || repeated.has('redirect_uri')) {
    return page('The request does not name exactly one redirect URI (redirect_uri).');
  }
  if (!matchesRegisteredRedirectUri(redirectUri, app.redirect_uris)) {
    return page('The redirect URI in this request is not registered for the application.');
  }

  // From here on the client is told, on its own redirect URI.
  const rawState = params.get('state');
  const stateOk = !repeated.has('state') && (rawState === undefined || rawState.length <= MAX_STATE);
  const state = stateOk ? rawState : undefined;
  const fail = (error: AuthorizeErrorCode, description: string): AuthorizeCheck => ({
    ok: false,
    kind: 'redirect',
    redirectUri,
    state,
    error,
    description,
  });
  if (!stateOk)
    return fail('invalid_request', `state must be given once and at most ${MAX_STATE} characters`);
  const twice = FORWARDED.find((name) => repeated.has(name));
  if (twice) return fail('invalid_request', `parameter ${twice} is repeated`);

  const responseType = params.get('response_type');
  if (!responseType) return fail('invalid_request', 'response_type is required');
  if (responseType !== 'code')
    return fail('unsupported_response_type', 'only response_type=code is supported');
  if (!app.grant_types.includes('authorization_code')) {
    return fail('unauthorized_client', 'this client may not use the authorization code grant');
  }

  // PKCE for every client, confidential ones too (OAuth 2.1): it is what binds the code to the
  // party that started the flow. `plain` would send the verifier itself through the browser.
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (!challenge) return fail('invalid_request', 'code_challenge is required (PKCE)');
  if (method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
  if (!CODE_CHALLENGE.test(challenge)) {
    return fail('invalid_request', 'code_challenge must be 43-128 base64url characters');
  }

  const requested = params.get('scope');
  let scopes = app.scopes;
  if (requested !== undefined) {
    scopes = [...new Set(requested.split(' ').filter(Boolean))];
    const extra = scopes.filter((s) => !app.scopes.includes(s));
    if (scopes.length === 0) return fail('invalid_scope', 'scope is empty');
    if (extra.length > 0)
      return fail('invalid_scope', `scope not granted to this client: ${extra.join(' ')}`);
  }

  const forward: Record<string, string> = {};
  for (const name of FORWARDED) {
    const value = params.get(name);
    if (value !== undefined) forward[name] = value;
  }
  return { ok: true, request: { app, redirectUri, scopes, state, codeChallenge: challenge, forward } };
}

function page(message: string): AuthorizeCheck {
  return { ok: false, kind: 'page', message };
}

/**
 * Adds response parameters to a redirect URI. Appended as text rather than through
 * `URL.searchParams`, which would re-encode the registered query the client matches on.
 */
export function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, value);
  const separator = uri.includes('?') ? (uri.endsWith('?') || uri.endsWith('&') ? '' : '&') : '?';
  return `${uri}${separator}${query.toString()}`;
}
