import { createHash } from 'node:crypto';
import type { KeyValueStore } from '@cpod/runtime';
import {
  type AccessTokenClaims,
  accessTokenVerifyOptions,
  claimsRejection,
  joseRejection,
} from '@cpod/sdk/access-token-rules';
import { type JWTVerifyGetKey, jwtVerify } from 'jose';
import { JwksCache } from './jwks-cache.js';

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

type Claims = AccessTokenClaims;

export interface TokenCacheStats {
  hits: number;
  misses: number;
  size: number;
}

export type ValidationResult =
  | { valid: true; claims: Claims }
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
      const { payload } = await jwtVerify(
        token,
        this.jwks,
        accessTokenVerifyOptions(this.options.issuer, this.options.audience),
      );
      claims = payload as Claims;
    } catch (err) {
      return classify(err);
    }
    const rejection = claimsRejection(claims);
    if (rejection) return invalid(rejection.reason, rejection.message);
    return { valid: true, claims };
  }
}

function invalid(reason: string, message: string): ValidationResult {
  return { valid: false, reason, message };
}

function classify(err: unknown): ValidationResult {
  const { reason, message } = joseRejection(err);
  return invalid(reason, message);
}
