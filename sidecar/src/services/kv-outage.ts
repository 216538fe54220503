import { ApiError, type KeyValueStore, type Logger } from '@cpod/runtime';
import { kvOutageCalls } from '../metrics.js';

export type OutageCheck = 'rate_limit' | 'revocation';

/**
 * The fail mode for outages of the key/value store (Redis), shared by every check that needs
 * it, so an outage is logged once — when it starts and when it ends — however many calls it
 * touches. Each call made during it is counted by check and mode.
 */
export class KvOutage {
  private active = false;

  constructor(
    readonly failMode: 'closed' | 'open',
    private readonly logger: Logger,
  ) {}

  /** True when `err` is the store being down; records the call and logs the start of an outage. */
  isOutage(err: unknown, check: OutageCheck): boolean {
    if (ApiError.from(err).code !== 'ERR_STORE_UNAVAILABLE') return false;
    kvOutageCalls.inc({ check, mode: this.failMode });
    if (!this.active) {
      this.active = true;
      this.logger.warn(
        this.failMode === 'open'
          ? 'key/value store unavailable: CORESDK_FAIL_MODE=open, rate limiting per process and not checking revocations until it is back'
          : 'key/value store unavailable: CORESDK_FAIL_MODE=closed, refusing calls that need it',
        { err },
      );
    }
    return true;
  }

  /** A call that needed the store succeeded. */
  succeeded(): void {
    if (!this.active) return;
    this.active = false;
    this.logger.info('key/value store is back');
  }
}

/**
 * The revocation list as the token validator reads it. With CORESDK_FAIL_MODE=open a Redis outage
 * reads as "not revoked" — the same trade the gateway makes when the sidecar is down — instead
 * of refusing every token; closed keeps the store's error, so validation fails with 503.
 */
export function revocationsUnderFailMode(kv: KeyValueStore, outage: KvOutage): KeyValueStore {
  return {
    ...kv,
    async get(key) {
      try {
        const value = await kv.get(key);
        outage.succeeded();
        return value;
      } catch (err) {
        if (outage.isOutage(err, 'revocation') && outage.failMode === 'open') return null;
        throw err;
      }
    },
  };
}
