import type { Principal, ValidateTokenResponse } from '@cpod/proto';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';

/** The same rules as the sidecar's TokenValidator, so a fail-open request is held to the same token checks. */
const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'PS256'];
const CLOCK_SKEW_SECONDS = 60;
const MAX_LIFETIME_SECONDS = 3600;
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
    let claims: JWTPayload & Record<string, unknown>;
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
    const { iat = 0, exp = 0 } = claims;
    if (iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS)
      return invalid('not_yet_valid', 'token issued in the future');
    if (exp - iat > MAX_LIFETIME_SECONDS)
      return invalid('lifetime_too_long', 'token lifetime exceeds 3600 s');
    if (typeof claims.tenant_id !== 'string' || claims.tenant_id === '')
      return invalid('missing_tenant', 'token carries no tenant_id');
    return { valid: true, principal: toPrincipal(claims), reason: '', message: '' };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async verifyWithKeys(token: string): Promise<JWTPayload & Record<string, unknown>> {
    const keys = this.keys;
    if (!keys) throw new Error('JWKS could not be fetched');
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ALLOWED_ALGORITHMS,
      issuer: this.options.issuer,
      audience: this.options.audience,
      typ: 'at+jwt',
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    return payload as JWTPayload & Record<string, unknown>;
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
  throw err;
}

function toPrincipal(claims: Record<string, unknown>): Principal {
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
