/**
 * Counts failed attempts per key (a client_id, a source address, an account) in a fixed
 * window: the first failure opens a window, and once `maxFailures` have been counted in it the
 * key is refused until the window ends. In-process on purpose for now; several control-plane
 * instances each count on their own, so the effective limit is per instance.
 */
export interface FailureThrottleOptions {
  /** Failures allowed in one window; the next attempt is refused. Default 10. */
  maxFailures?: number;
  /** Window length in milliseconds. Default 60 000. */
  windowMs?: number;
  /** Keys tracked at most; bounds memory when an attacker invents keys. Default 10 000. */
  maxKeys?: number;
  now?: () => number;
}

export interface FailureThrottle {
  /** Milliseconds until every key may try again; 0 when none is blocked. */
  blockedForMs(keys: readonly string[]): number;
  recordFailure(keys: readonly string[]): void;
}

interface Window {
  startedAt: number;
  failures: number;
}

export function createFailureThrottle(options: FailureThrottleOptions = {}): FailureThrottle {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order, so the first entries are the oldest windows.
  const windows = new Map<string, Window>();

  const live = (key: string, at: number): Window | undefined => {
    const window = windows.get(key);
    if (window && at - window.startedAt >= windowMs) {
      windows.delete(key);
      return undefined;
    }
    return window;
  };

  const makeRoom = (at: number) => {
    for (const [key, window] of windows) {
      if (windows.size < maxKeys) return;
      if (at - window.startedAt >= windowMs) windows.delete(key);
    }
    // Still full of live windows: forget the oldest rather than grow without bound.
    for (const key of windows.keys()) {
      if (windows.size < maxKeys) return;
      windows.delete(key);
    }
  };

  return {
    blockedForMs(keys) {
      const at = now();
      let wait = 0;
      for (const key of keys) {
        const window = live(key, at);
        if (window && window.failures >= maxFailures) {
          wait = Math.max(wait, window.startedAt + windowMs - at);
        }
      }
      return wait;
    },
    recordFailure(keys) {
      const at = now();
      for (const key of keys) {
        const window = live(key, at);
        if (window) {
          window.failures += 1;
        } else {
          makeRoom(at);
          windows.set(key, { startedAt: at, failures: 1 });
        }
      }
    },
  };
}
