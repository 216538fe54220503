import { ApiError, type KeyValueStore } from '@cpod/runtime';
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';

export const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
const CLOCK_SKEW_SECONDS = 60;
const MAX_LIFETIME_SECONDS = 3600;

export interface TokenValidatorOptions {
  jwksUri: string;
  issuer: string;
  audience: string;
  revocations: KeyValueStore;
}

export type ValidationResult =
  | { valid: true; claims: JWTPayload & Record<string, unknown> }
  | { valid: false; reason: string; message: string };

export const revocationKey = (jti: string) => `revoked:${jti}`;

/**
 * Verifies RFC 9068 access tokens: signature against the JWKS (asymmetric algorithms
 * only, so `none` and HS* — including HS256 keyed with the public key — are refused),
 * `typ: at+jwt`, issuer, audience, exp/nbf/iat with bounded skew, lifetime and jti
 * revocation.
 */
export class TokenValidator {
  private readonly jwks: JWTVerifyGetKey;

  constructor(private readonly options: TokenValidatorOptions) {
    // jose caches the key set and refetches at most once per cooldown on an unknown kid.
    this.jwks = createRemoteJWKSet(new URL(options.jwksUri), {
      cooldownDuration: 30_000,
      timeoutDuration: 2_000,
    });
  }

  async validate(token: string): Promise<ValidationResult> {
    if (!token || token.length > 8192) return invalid('malformed', 'token is empty or too long');
    let claims: JWTPayload & Record<string, unknown>;
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        algorithms: ALLOWED_ALGORITHMS,
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: 'at+jwt',
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      });
      claims = payload as JWTPayload & Record<string, unknown>;
    } catch (err) {
      return classify(err);
    }
    const { iat = 0, exp = 0 } = claims;
    if (iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS)
      return invalid('not_yet_valid', 'token issued in the future');
    if (exp - iat > MAX_LIFETIME_SECONDS)
      return invalid('lifetime_too_long', 'token lifetime exceeds 3600 s');
    if (typeof claims.tenant_id !== 'string' || claims.tenant_id === '') {
      return invalid('missing_tenant', 'token carries no tenant_id');
    }
    if ((await this.options.revocations.get(revocationKey(String(claims.jti)))) !== null) {
      return invalid('revoked', 'token has been revoked');
    }
    return { valid: true, claims };
  }
}

function invalid(reason: string, message: string): ValidationResult {
  return { valid: false, reason, message };
}

function classify(err: unknown): ValidationResult {
  if (err instanceof errors.JWTExpired) return invalid('expired', 'token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      aud: 'wrong_audience',
      iss: 'wrong_issuer',
      nbf: 'not_yet_valid',
      typ: 'wrong_type',
    };
    return invalid(reasons[err.claim] ?? 'invalid_claims', `claim ${err.claim} is invalid: ${err.reason}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return invalid('unsupported_algorithm', 'token algorithm is not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalid('bad_signature', 'signature verification failed');
  if (err instanceof errors.JWKSNoMatchingKey)
    return invalid('unknown_key', 'no key in the JWKS matches the token');
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || isNetworkError(err)) {
    // Not a verdict on the token: the sidecar cannot decide, so the caller must fail closed.
    throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'JWKS could not be fetched', { cause: err });
  }
  if (err instanceof errors.JOSEError) return invalid('malformed', 'token is malformed');
  throw err;
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}
