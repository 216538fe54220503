import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { csrfTokens } from './csrf.js';

describe('login form CSRF tokens', () => {
  it('verify only with the cookie they were issued with, for the same client, within 10 minutes', () => {
    let now = Date.parse('2026-12-03T10:00:00Z');
    const csrf = csrfTokens(randomBytes(32), () => now);
    const token = csrf.issue('app_1');
    expect(csrf.verify(token.cookie, token.field, 'app_1')).toBe(true);
    expect(csrf.verify(undefined, token.field, 'app_1')).toBe(false);
    expect(csrf.verify(token.cookie, undefined, 'app_1')).toBe(false);
    expect(csrf.verify(csrf.issue('app_1').cookie, token.field, 'app_1')).toBe(false);
    expect(csrf.verify(token.cookie, token.field, 'app_2')).toBe(false);
    expect(csrf.verify(token.cookie, `${token.field}x`, 'app_1')).toBe(false);
    const [issuedAt, mac] = token.field.split('.');
    expect(csrf.verify(token.cookie, `${Number(issuedAt) + 1}.${mac}`, 'app_1')).toBe(false);
    now += 601_000;
    expect(csrf.verify(token.cookie, token.field, 'app_1')).toBe(false);
  });

  it('a token from another key does not verify', () => {
    const a = csrfTokens(randomBytes(32), Date.now);
    const b = csrfTokens(randomBytes(32), Date.now);
    const token = a.issue('app_1');
    expect(b.verify(token.cookie, token.field, 'app_1')).toBe(false);
  });
});
