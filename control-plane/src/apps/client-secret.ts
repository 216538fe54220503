import { createHmac, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/** 256 bits of randomness; the prefix makes leaked secrets easy to find with secret scanners. */
export function newClientSecret(): string {
  return `cps_${randomBytes(32).toString('base64url')}`;
}

/** argon2id with the library defaults (19 MiB, 2 passes, 1 lane): OWASP's recommended minimum. */
export function hashClientSecret(secret: string): Promise<string> {
  return hash(secret);
}

// Verifying against this when the client is unknown keeps response time the same, so
// timing does not reveal which client ids exist.
let dummyHash: Promise<string> | undefined;

export async function verifyClientSecret(
  secretHash: string | null | undefined,
  secret: string,
): Promise<boolean> {
  if (secretHash === undefined || secretHash === null) {
    dummyHash ??= hash(newClientSecret());
    await verify(await dummyHash, secret).catch(() => false);
    return false;
  }
  return verify(secretHash, secret).catch(() => false);
}

export interface VerifiedSecretCacheOptions {
  /** How long a successful verification is remembered. Default 30 s. */
  ttlMs?: number;
  /** Entries kept at most. Default 10 000. */
  maxEntries?: number;
  now?: () => number;
  /** The verification being cached; tests count calls through it. Default argon2id. */
  verifyHash?: typeof verifyClientSecret;
}

/**
 * Remembers successful argon2id verifications for a short time, so a service asking for a
 * token every few seconds costs one argon2 run per TTL rather than one per request.
 *
 * Why this is safe: the key is an HMAC, under a random key that exists only in this process,
 * over the stored hash and the presented secret — memory never holds the secret, and a dump of
 * it gives nothing to test guesses against offline without the process key. The stored hash is
 * part of the key, so a rotation (a new hash) misses at once and the old secret must pass argon2
 * again, i.e. fail. Only successes are cached: every wrong guess still pays a full argon2
 * verification and is counted by the failure throttle.
 */
export function verifiedSecretCache(options: VerifiedSecretCacheOptions = {}) {
  const ttlMs = options.ttlMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const verifyHash = options.verifyHash ?? verifyClientSecret;
  const processKey = randomBytes(32);
  const verifiedUntil = new Map<string, number>();
  const keyOf = (secretHash: string, secret: string) =>
    createHmac('sha256', processKey).update(secretHash).update('\0').update(secret).digest('base64url');

  return async function verify(secretHash: string | null | undefined, secret: string): Promise<boolean> {
    if (!secretHash || ttlMs <= 0) return verifyHash(secretHash, secret);
    const key = keyOf(secretHash, secret);
    const until = verifiedUntil.get(key);
    if (until !== undefined && until > now()) return true;
    if (until !== undefined) verifiedUntil.delete(key);
    const ok = await verifyHash(secretHash, secret);
    if (ok) {
      // Oldest first: a Map iterates in insertion order.
      if (verifiedUntil.size >= maxEntries) {
        const oldest = verifiedUntil.keys().next().value;
        if (oldest !== undefined) verifiedUntil.delete(oldest);
      }
      verifiedUntil.set(key, now() + ttlMs);
    }
    return ok;
  };
}

export type SecretVerifier = ReturnType<typeof verifiedSecretCache>;
