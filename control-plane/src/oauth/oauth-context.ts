import { hkdfSync } from 'node:crypto';
import type { DocumentStore, Logger } from '@cpod/runtime';
import { type SecretVerifier, verifiedSecretCache } from '../apps/client-secret.js';
import { type TokenEvents, tokenEvents } from '../events/token-events.js';
import type { SigningKeys } from '../signing-keys.js';
import { type CsrfTokens, csrfTokens } from './csrf.js';
import {
  createFailureThrottle,
  type FailureThrottle,
  type FailureThrottleOptions,
} from './failure-throttle.js';

export interface OAuthSettings {
  issuer: string;
  audience: string;
  /** At most 3600: a leaked access token must not outlive an hour. */
  accessTokenTtlSeconds: number;
  /** Absolute lifetime of a refresh-token family, counted from the code exchange. */
  refreshTokenTtlSeconds: number;
  authorizationCodeTtlSeconds: number;
  maxBodyBytes: number;
}

/** Everything the OAuth endpoints share, built once per app in app.ts. */
export interface OAuthContext {
  store: DocumentStore;
  keys: SigningKeys;
  logger: Logger;
  settings: OAuthSettings;
  events: TokenEvents;
  throttle: FailureThrottle;
  csrf: CsrfTokens;
  /** argon2id verification of client secrets, with a short cache of successes. */
  verifySecret: SecretVerifier;
  /** Milliseconds since the epoch; injectable so expiry can be tested without waiting. */
  clock: () => number;
}

export interface OAuthContextOptions {
  store: DocumentStore;
  keys: SigningKeys;
  logger: Logger;
  adminToken: string;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds?: number | undefined;
  maxBodyBytes: number;
  /** Key for the login form's CSRF tokens; by default derived from the admin token. */
  csrfKey?: Uint8Array | undefined;
  throttle?: FailureThrottleOptions | undefined;
  clock?: (() => number) | undefined;
  /** How long a verified client secret is remembered (ms); 0 turns the cache off. Default 30 000. */
  secretCacheTtlMs?: number | undefined;
}

const MAX_ACCESS_TOKEN_TTL_SECONDS = 3600;
const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const AUTHORIZATION_CODE_TTL_SECONDS = 60;

export function createOAuthContext(options: OAuthContextOptions): OAuthContext {
  // Config refuses longer lifetimes already; this keeps any other caller to the same rule.
  if (options.accessTokenTtlSeconds > MAX_ACCESS_TOKEN_TTL_SECONDS || options.accessTokenTtlSeconds < 1) {
    throw new RangeError(`accessTokenTtlSeconds must be 1-${MAX_ACCESS_TOKEN_TTL_SECONDS}`);
  }
  const clock = options.clock ?? Date.now;
  // Derived rather than random so every instance sharing the admin token accepts the forms
  // the others rendered, and a restart does not break a login in progress.
  const csrfKey =
    options.csrfKey ??
    new Uint8Array(hkdfSync('sha256', options.adminToken, 'cpod', 'cpod login form csrf v1', 32));
  return {
    store: options.store,
    keys: options.keys,
    logger: options.logger,
    settings: {
      issuer: options.issuer,
      audience: options.audience,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds,
      refreshTokenTtlSeconds: options.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
      authorizationCodeTtlSeconds: AUTHORIZATION_CODE_TTL_SECONDS,
      maxBodyBytes: options.maxBodyBytes,
    },
    events: tokenEvents(options.store, options.logger, clock),
    throttle: createFailureThrottle({ now: clock, ...options.throttle }),
    csrf: csrfTokens(csrfKey, clock),
    verifySecret: verifiedSecretCache({ now: clock, ttlMs: options.secretCacheTtlMs ?? 30_000 }),
    clock,
  };
}
