import type { MiddlewareHandler } from 'hono';
import type { AppRecord } from '../apps/app-repository.js';
import type { UserRecord } from '../users/user-repository.js';
import type { AuthorizationCodeRecord } from './authorization-codes.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import type { RefreshTokenRecord } from './refresh-tokens.js';
import { isThrottleableAddress, peerAddress, sourceAddress } from './source-address.js';
import { type ClientCredentials, readClientCredentials, readOAuthParams } from './token-request.js';

/** What the steps of the token, revocation and introspection endpoints establish, in order. */
export interface OAuthRequestState {
  params: Map<string, string>;
  ip: string;
  throttleKeys: string[];
  app: AppRecord;
  credentials: ClientCredentials;
  // Token endpoint only.
  grant: string;
  scopes: string[];
  user: UserRecord;
  code: AuthorizationCodeRecord;
  refresh: RefreshTokenRecord;
  /** Chosen before anything is signed, so they can be recorded first. */
  jti: string;
  issuedAt: number;
  familyId: string | null;
}

export type OAuthEnv = { Variables: { oauth: Partial<OAuthRequestState> } };
export type OAuthStep = MiddlewareHandler<OAuthEnv>;

/** Errors that mean someone is guessing: a client secret, a code or a refresh token. */
const GUESSING = new Set(['invalid_client', 'invalid_grant']);

/**
 * The steps every client-authenticated OAuth endpoint starts with: no caching, the body,
 * refusal of a throttled client or address, counting of failures, then client authentication.
 */
export function clientEndpointSteps(ctx: OAuthContext, endpoint: string): OAuthStep[] {
  const noStore: OAuthStep = async (c, next) => {
    c.set('oauth', {});
    c.header('cache-control', 'no-store');
    c.header('pragma', 'no-cache');
    await next();
  };

  const parseBody: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.params = await readOAuthParams(c.req.raw, ctx.settings.maxBodyBytes);
    state.ip = sourceAddress(c.req.raw.headers, peerAddress(c.env));
    await next();
  };

  // Checked before the secret is: a blocked caller costs no argon2 verification.
  const rejectThrottled: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.throttleKeys = throttleKeys(state.ip!, claimedClientId(c.req.raw, state.params!));
    const waitMs = ctx.throttle.blockedForMs(state.throttleKeys);
    if (waitMs > 0) throw throttled(waitMs);
    await next();
  };

  const countFailures: OAuthStep = async (c, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof OAuthError && GUESSING.has(err.error)) {
        ctx.throttle.recordFailure(c.get('oauth').throttleKeys ?? []);
      }
      throw err;
    }
  };

  const authenticate: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const { app, credentials } = await authenticateClient(ctx, c.req.raw, state.params!, {
      ip: state.ip!,
      endpoint,
    });
    state.app = app;
    state.credentials = credentials;
    await next();
  };

  return [noStore, parseBody, rejectThrottled, countFailures, authenticate];
}

/**
 * Keys failures are counted under. Per client_id, so one client's secret cannot be guessed
 * from many addresses; per source address, so one address cannot guess across clients.
 */
export function throttleKeys(ip: string, clientId: string | undefined): string[] {
  const keys: string[] = [];
  if (clientId) keys.push(`client:${clientId.slice(0, 100)}`);
  if (isThrottleableAddress(ip)) keys.push(`ip:${ip}`);
  return keys;
}

/**
 * 429 with `Retry-After` and the RFC 6749 body `invalid_request`: RFC 6749 has no throttling
 * error, and `slow_down` (RFC 8628) means "poll less often" to device-flow clients, whereas
 * every OAuth client library knows `invalid_request` and can read the status.
 */
export function throttled(waitMs: number): OAuthError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new OAuthError('invalid_request', `too many failed attempts; retry in ${seconds} s`, {
    status: 429,
    headers: { 'retry-after': String(seconds) },
  });
}

function claimedClientId(request: Request, params: Map<string, string>): string | undefined {
  try {
    return readClientCredentials(request, params).clientId;
  } catch {
    return params.get('client_id');
  }
}
