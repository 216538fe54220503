import { createHash } from 'node:crypto';
import type { KeyValueStore } from '@cpod/runtime';
import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { JwksCache } from './jwks-cache.js';

export const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
const CLOCK_SKEW_SECONDS = 60;
const MAX_LIFETIME_SECONDS = 3600;

export interface TokenValidatorOptions {
  /** Where the issuer publishes its keys; required unless `keys` is given. */
  jwksUri?: string;
  /** Least time between two JWKS fetches caused by an unknown kid (default 5 s). */
  jwksCooldownMs?: number;
  onJwksFetch?: (result: 'success' | 'failure') => void;
  issuer: string;
  audience: string;
  revocations: KeyValueStore;
  /** Verified tokens remembered by hash (default 10 000); 0 turns the cache off. */
  cacheSize?: number;
  /** Verifies against these keys instead of a remote JWKS (the local dev key; tests count signature checks through it). */
  keys?: JWTVerifyGetKey;
}

type Claims = JWTPayload & Record<string, unknown>;

export interface TokenCacheStats {
  hits: number;
  misses: number;
  size: number;
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
  /**
   * SHA-256 of the token → its verified claims, until `exp`. Keyed by hash so the cache never
   * holds a usable credential; a Map in insertion order doubles as the eviction queue.
   */
  private readonly verified = new Map<string, Claims>();
  private readonly cacheSize: number;
  private readonly counts = { hits: 0, misses: 0 };

  constructor(private readonly options: TokenValidatorOptions) {
    if (options.keys) this.jwks = options.keys;
    else if (options.jwksUri) {
      this.jwks = new JwksCache({
        uri: options.jwksUri,
        cooldownMs: options.jwksCooldownMs,
        onFetch: options.onJwksFetch,
      }).getKey;
    } else throw new Error('TokenValidator needs jwksUri or keys');
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  get cacheStats(): TokenCacheStats {
    return { ...this.counts, size: this.verified.size };
  }

  async validate(token: string): Promise<ValidationResult> {
    if (!token || token.length > 8192) return invalid('malformed', 'token is empty or too long');
    const hash = this.cacheSize > 0 ? createHash('sha256').update(token).digest('base64url') : '';
    const cached = hash ? this.verified.get(hash) : undefined;
    if (cached !== undefined && (cached.exp ?? 0) * 1000 > Date.now()) {
      this.counts.hits++;
      // The signature is not checked again, but revocation is: it can happen at any moment,
      // on any replica sharing the revocation store.
      return this.checkRevocation(cached);
    }
    if (cached !== undefined) this.verified.delete(hash);
    this.counts.misses++;
    const result = await this.verify(token);
    if (result.valid && hash) this.remember(hash, result.claims);
    return result.valid ? this.checkRevocation(result.claims) : result;
  }

  private remember(hash: string, claims: Claims): void {
    if (this.verified.size >= this.cacheSize) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(hash, claims);
  }

  private async checkRevocation(claims: Claims): Promise<ValidationResult> {
    if ((await this.options.revocations.get(revocationKey(String(claims.jti)))) !== null) {
      return invalid('revoked', 'token has been revoked');
    }
    return { valid: true, claims };
  }

  /** Everything but revocation: signature, header and claims. */
  private async verify(token: string): Promise<ValidationResult> {
    let claims: Claims;
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        algorithms: ALLOWED_ALGORITHMS,
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: 'at+jwt',
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      });
      claims = payload as Claims;
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
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return invalid('unknown_key', 'the token does not name one key of the JWKS');
  if (err instanceof errors.JOSEError) return invalid('malformed', 'token is malformed');
  // Not a verdict on the token (the JWKS is unreachable): the caller must fail closed.
  throw err;
}
