import { describe, expect, it } from 'vitest';
import { maskMetadata, maskString } from './mask-metadata.js';

describe('maskMetadata', () => {
  it('masks emails, phone numbers, bearer tokens and JWTs inside values', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXBhcnQ';
    expect(maskString('contact ada.lovelace@example.com now')).toBe('contact a***@example.com now');
    expect(maskString('call +44 20 7946 0958')).toBe('call ***58');
    expect(maskString(`Authorization: Bearer ${jwt}`)).toBe('Authorization: Bearer [masked]');
    expect(maskString(`token=${jwt}`)).toBe('token=[masked]');
  });

  it('masks whole values under sensitive keys and walks nested objects and arrays', () => {
    expect(
      maskMetadata({
        path: '/v1/people/per_0123456789',
        occurred: '2026-12-03T12:51:28.000Z',
        password: 'hunter2',
        user: { email: 'x@y.io', phone: 12345678, name: 'Ada' },
        cc: ['a@b.co', 'plain'],
        count: 3,
        ok: true,
      }),
    ).toEqual({
      path: '/v1/people/per_0123456789',
      occurred: '2026-12-03T12:51:28.000Z',
      password: '[masked]',
      user: { email: '[masked]', phone: '[masked]', name: 'Ada' },
      cc: ['a***@b.co', 'plain'],
      count: 3,
      ok: true,
    });
  });
});
