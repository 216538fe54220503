import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const CSRF_COOKIE = 'cpod_csrf';
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;
/** How long a rendered login form stays usable. */
export const CSRF_MAX_AGE_SECONDS = 600;

export interface CsrfToken {
  /** Random value for the cookie. */
  cookie: string;
  /** `<issued-at>.<HMAC over cookie, client and time>` for the hidden form field. */
  field: string;
}

export interface CsrfTokens {
  issue(clientId: string): CsrfToken;
  verify(cookie: string | undefined, field: string | undefined, clientId: string): boolean;
}

/**
 * Signed double-submit tokens. A cross-site form post cannot read or set our cookie, and
 * without the server key it cannot derive the matching field from a cookie it planted some
 * other way (a sibling subdomain, a network attacker on http); binding the client and the
 * time keeps a captured pair from serving another app or living forever.
 */
export function csrfTokens(key: Uint8Array, clock: () => number): CsrfTokens {
  const mac = (cookie: string, clientId: string, issuedAt: string) =>
    createHmac('sha256', key).update(`cpod-csrf\0${cookie}\0${clientId}\0${issuedAt}`).digest('base64url');
  return {
    issue(clientId) {
      const cookie = randomBytes(32).toString('base64url');
      const issuedAt = String(Math.floor(clock() / 1000));
      return { cookie, field: `${issuedAt}.${mac(cookie, clientId, issuedAt)}` };
    },
    verify(cookie, field, clientId) {
      if (!cookie || !field || !COOKIE_VALUE.test(cookie)) return false;
      const [issuedAt, given, ...rest] = field.split('.');
      if (!issuedAt || !given || rest.length > 0 || !/^\d{1,12}$/.test(issuedAt)) return false;
      const age = Math.floor(clock() / 1000) - Number(issuedAt);
      if (age < -60 || age > CSRF_MAX_AGE_SECONDS) return false;
      const expected = Buffer.from(mac(cookie, clientId, issuedAt));
      const actual = Buffer.from(given);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}
