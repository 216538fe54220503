import { describe, expect, it } from 'vitest';
import {
  hashClientSecret,
  newClientSecret,
  verifiedSecretCache,
  verifyClientSecret,
} from './client-secret.js';

/** A cache over real argon2id that counts how often argon2id actually ran. */
function counted(options: Parameters<typeof verifiedSecretCache>[0] = {}) {
  let runs = 0;
  const verify = verifiedSecretCache({
    ...options,
    verifyHash: (hash, secret) => {
      runs += 1;
      return verifyClientSecret(hash, secret);
    },
  });
  return { verify, runs: () => runs };
}

describe('verifiedSecretCache', () => {
  it('remembers a success for the TTL only, never a failure, and misses once the stored hash changes', async () => {
    let now = 1_000_000;
    const { verify, runs } = counted({ ttlMs: 30_000, now: () => now });
    const secret = newClientSecret();
    const hash = await hashClientSecret(secret);

    expect(await verify(hash, 'wrong')).toBe(false);
    expect(await verify(hash, secret)).toBe(true);
    expect(runs()).toBe(2);
    expect(await verify(hash, secret)).toBe(true);
    expect(runs()).toBe(2);
    // Wrong guesses always pay argon2id.
    expect(await verify(hash, 'wrong')).toBe(false);
    expect(runs()).toBe(3);

    // A rotation stores another hash: the old secret is checked against it, and fails.
    const rotated = await hashClientSecret(newClientSecret());
    expect(await verify(rotated, secret)).toBe(false);
    expect(runs()).toBe(4);

    now += 30_001;
    expect(await verify(hash, secret)).toBe(true);
    expect(runs()).toBe(5);
  });

  it('holds at most maxEntries successes, forgetting the oldest', async () => {
    const { verify, runs } = counted({ maxEntries: 1 });
    const [a, b] = [newClientSecret(), newClientSecret()];
    const [hashA, hashB] = await Promise.all([hashClientSecret(a), hashClientSecret(b)]);
    await verify(hashA, a);
    await verify(hashB, b);
    expect(await verify(hashA, a)).toBe(true);
    expect(runs()).toBe(3);
  });

  it('with ttlMs 0 verifies every time; no hash means no success', async () => {
    const { verify, runs } = counted({ ttlMs: 0 });
    const secret = newClientSecret();
    const hash = await hashClientSecret(secret);
    expect(await verify(hash, secret)).toBe(true);
    expect(await verify(hash, secret)).toBe(true);
    expect(runs()).toBe(2);
    expect(await verify(null, secret)).toBe(false);
  });
});
