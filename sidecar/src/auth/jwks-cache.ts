import { ApiError } from '@cpod/runtime';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface JwksCacheOptions {
  uri: string;
  /**
   * Least time between two fetches caused by an unknown kid (default 5 s): short, because a
   * token signed with a freshly rotated key is refused until the next fetch; long enough that
   * a flood of forged kids costs the issuer one request per interval.
   */
  cooldownMs?: number;
  /** A key set older than this is refetched on the next use, keeping the old one if that fails (default 10 min). */
  maxAgeMs?: number;
  timeoutMs?: number;
  /** Told about every fetch, for the refresh counters. */
  onFetch?: (result: 'success' | 'failure') => void;
}

const MAX_JWKS_BYTES = 512 * 1024;
/** With no key set yet, how often a caller may retry the fetch (start-up, issuer down). */
const NO_KEYS_RETRY_MS = 1000;

/**
 * The key set of the token issuer, fetched once and kept. A token with a kid the set does not
 * hold triggers a refetch (key rotation), but at most one per cooldown, and concurrent callers
 * share the fetch in flight: a burst of forged kids cannot turn into a burst of requests to
 * the issuer.
 */
export class JwksCache {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: JwksCacheOptions) {
    this.cooldownMs = options.cooldownMs ?? 5000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** For jose's jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (this.keys === undefined || Date.now() - this.fetchedAt > this.maxAgeMs) {
      if (this.keys === undefined && Date.now() - this.fetchedAt < NO_KEYS_RETRY_MS) {
        throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'JWKS could not be fetched');
      }
      await this.refresh().catch((err: unknown) => {
        // A stale set still verifies; only having no set at all is fatal.
        if (this.keys === undefined) throw err;
      });
    }
    try {
      return await this.lookup(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.fetchedAt < this.cooldownMs) {
        throw err;
      }
      await this.refresh();
      return this.lookup(header, token);
    }
  };

  private lookup(...[header, token]: Parameters<JWTVerifyGetKey>) {
    const keys = this.keys;
    if (keys === undefined) throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'JWKS could not be fetched');
    return keys(header, token);
  }

  /** One fetch at a time; everyone who asks meanwhile waits for the same one. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    try {
      const res = await fetch(this.options.uri, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
      if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS is too large');
      const set = JSON.parse(text) as JSONWebKeySet;
      if (!Array.isArray(set?.keys)) throw new Error('JWKS has no keys array');
      this.keys = createLocalJWKSet(set);
      this.options.onFetch?.('success');
    } catch (err) {
      this.options.onFetch?.('failure');
      throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'JWKS could not be fetched', { cause: err });
    } finally {
      // A failed fetch also starts the cooldown, so an unreachable issuer is not hammered.
      this.fetchedAt = Date.now();
    }
  }
}
