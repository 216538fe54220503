import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

export const MIN_PASSWORD_LENGTH = 12;

/** argon2id with the library defaults (19 MiB, 2 passes, 1 lane), as for client secrets. */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

// Verifying against this when no user has the email keeps a failed login as slow as a wrong
// password, so response time does not reveal which emails are registered.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | undefined, password: string): Promise<boolean> {
  if (passwordHash === undefined) {
    dummyHash ??= hash(randomBytes(32).toString('base64url'));
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
