import { describe, expect, it } from 'vitest';
import { maskAttributes, maskText } from './mask.js';

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtaGVyZQ';

describe('maskText', () => {
  it.each([
    ['alice@example.com', '[email]'],
    ['contact Bob.Smith+tag@mail.example.co.uk now', 'contact [email] now'],
    ['+1 555 123 4567', '[phone]'],
    ['(555) 123-4567', '[phone]'],
    ['call 555-123-4567.', 'call [phone].'],
    ['+441234567890', '[phone]'],
    ['07700 900123', '[phone]'],
    [`token ${JWT}`, 'token [jwt]'],
    ['Authorization: Bearer abc.def-ghi', 'Authorization: Bearer [redacted]'],
    ['Basic Y2xpZW50OnNlY3JldA==', 'Basic [redacted]'],
    ['secret cps_Q2hlY2sgdGhpcyBzZWNyZXQgdmFsdWU', 'secret [secret]'],
    ['code=Xk3dP9qLm2ZtR7vB4nW8yH6jC1fG5sA0eUoIiKl', 'code=[secret]'],
  ])('masks %s', (input, expected) => {
    expect(maskText(input)).toBe(expected);
  });

  it.each([
    'POST /v1/people/{id}',
    '2026-12-03',
    '2026-12-03T12:51:06.123Z',
    '550e8400-e29b-41d4-a716-446655440000',
    '127.0.0.1:8000',
    'per_0jb8r9v7m2k4x6z1q3w5e7t9y2',
    '4bf92f3577b34da6a3ce929d0e0e4736',
    'status 201 in 12 ms',
    'coresdk.v1.AuthService/ValidateToken',
    'version 1.14.7',
  ])('leaves %s alone', (input) => {
    expect(maskText(input)).toBe(input);
  });
});

describe('maskAttributes', () => {
  it('masks string values and arrays, drops credential keys, keeps numbers and booleans', () => {
    expect(
      maskAttributes({
        'http.route': '/v1/people',
        'http.response.status_code': 201,
        'cpod.fail_open': false,
        'user.email': 'alice@example.com',
        emails: ['a@b.example', 'not personal'],
        'http.request.header.authorization': 'anything at all',
        client_secret: 'short',
      }),
    ).toEqual({
      'http.route': '/v1/people',
      'http.response.status_code': 201,
      'cpod.fail_open': false,
      'user.email': '[email]',
      emails: ['[email]', 'not personal'],
      'http.request.header.authorization': '[redacted]',
      client_secret: '[redacted]',
    });
  });
});

describe('maskText on hostile input', () => {
  it('stays fast on long values and cuts them', () => {
    for (const unit of ['x', '1', '1 ', 'a@', 'eyJ', 'a.', 'Bearer ']) {
      const value = unit.repeat(100_000);
      const started = performance.now();
      const masked = maskText(value);
      expect(performance.now() - started, unit).toBeLessThan(200);
      expect(masked.length).toBeLessThan(6000);
    }
  });
});
