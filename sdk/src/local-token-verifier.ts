import type { ValidateTokenResponse } from '@cpod/proto';
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from 'jose';
import {
  type AccessTokenClaims,
  accessTokenVerifyOptions,
  claimsRejection,
  joseRejection,
  type TokenRejection,
  toPrincipal,
} from './access-token-rules.js';

const MAX_JWKS_BYTES = 512 * 1024;

export interface LocalTokenVerifierOptions {
  /** The issuer's JWKS (CORESDK_JWKS_URI). */
  jwksUri: string;
  /** CORESDK_EXPECTED_ISSUER. */
  issuer: string;
  /** CORESDK_EXPECTED_AUDIENCE. */
  audience: string;
  /** How often the cached key set is refreshed in the background (default 5 min). */
  refreshIntervalMs?: number;
  /** Least time between two fetches caused by an unknown kid (default 30 s). */
  cooldownMs?: number;
  /** Bound on one JWKS fetch (default 2000 ms). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Verifies access tokens in-process against a cached copy of the issuer's JWKS, for the moment
 * the sidecar cannot be asked (CORESDK_FAIL_MODE=open). The key set is fetched at start and
 * refreshed in the background while everything is healthy, so it is at hand when the sidecar
 * dies; a failed refresh keeps the previous set. Revocation cannot be checked here: the
 * revocation list lives behind the sidecar.
 *
 * @example
 * const verifier = new LocalTokenVerifier({ jwksUri, issuer, audience });
 * await verifier.refresh();
 * const { valid, principal } = await verifier.verify(token);
 */
export class LocalTokenVerifier {
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly cooldownMs: number;

  constructor(private readonly options: LocalTokenVerifierOptions) {
    this.cooldownMs = options.cooldownMs ?? 30_000;
    // A failed background refresh is not an error to anyone yet: the old set still serves.
    this.timer = setInterval(() => this.refresh().catch(() => {}), options.refreshIntervalMs ?? 300_000);
    this.timer.unref();
  }

  /** Whether a key set has been fetched at least once. */
  get hasKeys(): boolean {
    return this.keys !== undefined;
  }

  /** Fetches the key set now; concurrent callers share one fetch. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * A verdict on the token shaped like the sidecar's ValidateToken answer. Rejects (rather than
   * answering `valid: false`) only when no key set could ever be fetched: that is no verdict.
   */
  async verify(token: string): Promise<ValidateTokenResponse> {
    if (!token || token.length > 8192) return invalid('malformed', 'token is empty or too long');
    if (!this.keys) await this.refresh();
    let claims: AccessTokenClaims;
    try {
      claims = await this.verifyWithKeys(token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.fetchedAt < this.cooldownMs)
        return classify(err);
      // An unknown kid may be a rotated key: look once more, at most once per cooldown.
      await this.refresh().catch(() => {});
      try {
        claims = await this.verifyWithKeys(token);
      } catch (again) {
        return classify(again);
      }
    }
    const rejection = claimsRejection(claims);
    if (rejection) return invalid(rejection.reason, rejection.message);
    return { valid: true, principal: toPrincipal(claims), reason: '', message: '' };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async verifyWithKeys(token: string): Promise<AccessTokenClaims> {
    const keys = this.keys;
    if (!keys) throw new Error('JWKS could not be fetched');
    const { payload } = await jwtVerify(
      token,
      keys,
      accessTokenVerifyOptions(this.options.issuer, this.options.audience),
    );
    return payload as AccessTokenClaims;
  }

  private async fetchKeys(): Promise<void> {
    this.fetchedAt = Date.now();
    const res = await (this.options.fetch ?? fetch)(this.options.jwksUri, {
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 2000),
      headers: { accept: 'application/json' },
      redirect: 'error',
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`JWKS fetch answered ${res.status}`);
    }
    const text = await res.text();
    if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS is too large');
    const set = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(set?.keys)) throw new Error('JWKS has no keys array');
    this.keys = createLocalJWKSet(set);
  }
}

function invalid(reason: string, message: string): ValidateTokenResponse {
  return { valid: false, principal: undefined, reason, message };
}

function classify(err: unknown): ValidateTokenResponse {
  const { reason, message }: TokenRejection = joseRejection(err);
  return invalid(reason, message);
}
