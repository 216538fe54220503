import { createHash, randomBytes } from 'node:crypto';

/**
 * Codes and refresh tokens carry 256 random bits, so a plain SHA-256 is enough to make a
 * stolen database useless to an attacker (no password-style slow hash needed), and a lookup
 * by hash is a primary-key read.
 */
export function tokenHash(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** 32 random bytes, base64url, after a prefix that lets secret scanners recognise a leak. */
export function randomToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}
