import type { Principal } from '@cpod/proto';
import { errors, type JWTPayload, type JWTVerifyOptions } from 'jose';

/**
 * The platform's access-token rules (RFC 9068 profile), in one place: the sidecar's
 * TokenValidator and the SDK's fail-open LocalTokenVerifier must hold a token to the same checks.
 */
export const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
export const CLOCK_SKEW_SECONDS = 60;
export const MAX_LIFETIME_SECONDS = 3600;

export type AccessTokenClaims = JWTPayload & Record<string, unknown>;

export interface TokenRejection {
  reason: string;
  message: string;
}

/** What jose checks: algorithm, header type, issuer, audience, time claims and required claims. */
export function accessTokenVerifyOptions(issuer: string, audience: string): JWTVerifyOptions {
  return {
    algorithms: ALLOWED_ALGORITHMS,
    issuer,
    audience,
    typ: 'at+jwt',
    clockTolerance: CLOCK_SKEW_SECONDS,
    requiredClaims: ['exp', 'iat', 'jti', 'sub'],
  };
}

/** What jose does not check: issued in the future, lifetime over 1 h, no tenant. */
export function claimsRejection(claims: AccessTokenClaims): TokenRejection | undefined {
  const { iat = 0, exp = 0 } = claims;
  if (iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS)
    return { reason: 'not_yet_valid', message: 'token issued in the future' };
  if (exp - iat > MAX_LIFETIME_SECONDS)
    return { reason: 'lifetime_too_long', message: 'token lifetime exceeds 3600 s' };
  if (typeof claims.tenant_id !== 'string' || claims.tenant_id === '')
    return { reason: 'missing_tenant', message: 'token carries no tenant_id' };
  return undefined;
}

/** A jose verification error as a rejection reason; anything else is no verdict and is rethrown. */
export function joseRejection(err: unknown): TokenRejection {
  const reject = (reason: string, message: string) => ({ reason, message });
  if (err instanceof errors.JWTExpired) return reject('expired', 'token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      aud: 'wrong_audience',
      iss: 'wrong_issuer',
      nbf: 'not_yet_valid',
      typ: 'wrong_type',
    };
    return reject(reasons[err.claim] ?? 'invalid_claims', `claim ${err.claim} is invalid: ${err.reason}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return reject('unsupported_algorithm', 'token algorithm is not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return reject('bad_signature', 'signature verification failed');
  if (err instanceof errors.JWKSNoMatchingKey)
    return reject('unknown_key', 'no key in the JWKS matches the token');
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return reject('unknown_key', 'the token does not name one key of the JWKS');
  if (err instanceof errors.JOSEError) return reject('malformed', 'token is malformed');
  // Not a verdict on the token (e.g. the JWKS is unreachable): the caller must fail closed.
  throw err;
}

/** The validated claims as the Principal the gateway's plugins work with. */
export function toPrincipal(claims: Record<string, unknown>): Principal {
  const aud = claims.aud;
  return {
    subject: String(claims.sub ?? ''),
    clientId: String(claims.client_id ?? ''),
    tenantId: String(claims.tenant_id ?? ''),
    scopes: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [],
    issuer: String(claims.iss ?? ''),
    audience: Array.isArray(aud) ? aud.map(String) : aud ? [String(aud)] : [],
    issuedAt: Number(claims.iat ?? 0),
    expiresAt: Number(claims.exp ?? 0),
    tokenId: String(claims.jti ?? ''),
    claims,
  };
}

/**
 * The app's registered request limit, which the control plane puts in the token's `rate_limit`
 * claim; undefined (the platform default applies) when the claim is absent or unusable.
 */
export function appRateLimit(
  claims: Record<string, unknown> | undefined,
): { capacity: number; refillPerSecond: number } | undefined {
  const claim = claims?.rate_limit as { capacity?: unknown; refill_per_second?: unknown } | undefined;
  const { capacity, refill_per_second: refill } = claim ?? {};
  return typeof capacity === 'number' && capacity >= 1 && typeof refill === 'number' && refill > 0
    ? { capacity, refillPerSecond: refill }
    : undefined;
}
