import { createHash, timingSafeEqual } from 'node:crypto';

/** RFC 7636 §4.2: a S256 challenge is base64url; 43-128 characters covers every encoder we accept. */
export const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;
/** RFC 7636 §4.1: unreserved characters, 43-128 of them. */
export const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Compares BASE64URL(SHA256(verifier)) with the stored challenge in constant time. */
export function verifyPkce(verifier: string, challenge: string): boolean {
  if (!CODE_VERIFIER.test(verifier)) return false;
  // Hashing both sides gives equal-length inputs, which timingSafeEqual requires.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(s256(verifier)), digest(challenge));
}
