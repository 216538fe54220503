import { describe, expect, it } from 'vitest';
import {
  AuthError,
  CpodError,
  errorFromResponse,
  errorFromTokenResponse,
  NotFoundError,
  PolicyDeniedError,
  parseRetryAfter,
  RateLimitError,
  type ReceivedResponse,
  ValidationError,
} from './errors.js';

function response(status: number, body: unknown, headers: Record<string, string> = {}): ReceivedResponse {
  const isText = typeof body === 'string';
  return {
    status,
    statusText: '',
    headers: new Headers({
      'content-type': isText ? 'text/plain' : 'application/problem+json',
      ...headers,
    }),
    body: isText ? body : JSON.stringify(body),
  };
}

function problem(status: number, code: string, extra: Record<string, unknown> = {}) {
  return {
    type: `https://cpod.dev/problems/${code}`,
    title: 'T',
    status,
    detail: `detail ${code}`,
    code,
    ...extra,
  };
}

describe('errorFromResponse', () => {
  it.each([
    [400, 'ERR_VALIDATION_FAILED', ValidationError],
    [401, 'ERR_AUTH_INVALID_TOKEN', AuthError],
    [403, 'ERR_POLICY_DENIED', PolicyDeniedError],
    [404, 'ERR_RESOURCE_NOT_FOUND', NotFoundError],
    [413, 'ERR_REQUEST_TOO_LARGE', ValidationError],
    [415, 'ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE', ValidationError],
    [422, 'ERR_VALIDATION_FAILED', ValidationError],
    [429, 'ERR_RATE_LIMITED', RateLimitError],
    [500, 'ERR_INTERNAL', CpodError],
    [503, 'ERR_SIDECAR_UNAVAILABLE', CpodError],
  ])('maps %i problem+json to its class', (status, code, cls) => {
    const err = errorFromResponse(response(status, problem(status, code, { field: 'email' })));
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(CpodError);
    expect(err.name).toBe(cls.name);
    expect(err).toMatchObject({ status, code, detail: `detail ${code}`, field: 'email' });
    expect(err.type).toBe(`https://cpod.dev/problems/${code}`);
    expect(err.message).toContain(code);
  });

  it('falls back to the status when the body is not problem+json', () => {
    const err = errorFromResponse(response(502, '<html>Bad Gateway</html>'));
    expect(err.constructor).toBe(CpodError);
    expect(err).toMatchObject({ status: 502, code: 'ERR_INTERNAL', detail: undefined });
    expect(errorFromResponse(response(404, ''))).toBeInstanceOf(NotFoundError);
    expect(errorFromResponse(response(404, '')).code).toBe('ERR_RESOURCE_NOT_FOUND');
    expect(errorFromResponse(response(413, 'too big')).code).toBe('ERR_REQUEST_TOO_LARGE');
    expect(errorFromResponse(response(418, 'teapot')).code).toBe('ERR_HTTP_418');
    const auth = errorFromResponse(response(401, '', { 'www-authenticate': 'Bearer error="invalid_token"' }));
    expect(auth).toBeInstanceOf(AuthError);
    expect(auth.code).toBe('ERR_AUTH_INVALID_TOKEN');
  });

  it('ignores a JSON body that is not an object', () => {
    const err = errorFromResponse({
      ...response(400, '"nope"'),
      headers: new Headers({ 'content-type': 'application/json' }),
    });
    expect(err).toMatchObject({ status: 400, code: 'ERR_REQUEST_MALFORMED' });
  });

  it('reads retry and rate-limit headers on 429, and x-request-id always', () => {
    const err = errorFromResponse(
      response(429, problem(429, 'ERR_RATE_LIMITED'), {
        'retry-after': '7',
        'ratelimit-limit': '10',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '7',
        'x-request-id': 'req-1',
      }),
    );
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ retryAfter: 7, limit: 10, remaining: 0, reset: 7, requestId: 'req-1' });
  });

  it('redacts server-provided text', () => {
    const err = errorFromResponse(
      response(400, problem(400, 'ERR_VALIDATION_FAILED', { detail: 'bad s3cret' })),
      (t) => t.replaceAll('s3cret', '[REDACTED]'),
    );
    expect(err.message).not.toContain('s3cret');
    expect(err.detail).toBe('bad [REDACTED]');
  });
});

describe('errorFromTokenResponse', () => {
  it('maps RFC 6749 errors to AuthError with an ERR_AUTH_ code', () => {
    const body = { error: 'invalid_client', error_description: 'client authentication failed' };
    const err = errorFromTokenResponse({
      ...response(401, body),
      headers: new Headers({ 'content-type': 'application/json' }),
    });
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({
      status: 401,
      code: 'ERR_AUTH_INVALID_CLIENT',
      detail: 'client authentication failed',
    });
    expect(err.message).toContain('invalid_client');
    const scope = errorFromTokenResponse(response(400, { error: 'invalid_scope' }));
    expect(scope).toBeInstanceOf(AuthError);
    expect(scope.code).toBe('ERR_AUTH_INVALID_SCOPE');
  });

  it('keeps 429 and 5xx retryable classes', () => {
    expect(errorFromTokenResponse(response(429, problem(429, 'ERR_RATE_LIMITED')))).toBeInstanceOf(
      RateLimitError,
    );
    const unavailable = errorFromTokenResponse(response(503, 'down'));
    expect(unavailable).not.toBeInstanceOf(AuthError);
    expect(unavailable.status).toBe(503);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP-dates', () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter(' 12 ')).toBe(12);
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:05 GMT', now)).toBe(5);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
  });
});
