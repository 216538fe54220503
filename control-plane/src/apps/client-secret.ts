import { randomBytes } from 'node:crypto';
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
