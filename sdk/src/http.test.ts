import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { scriptedServers } from '../../test/helpers/scripted-server.js';
import { AuthError, CpodError, NotFoundError, PolicyDeniedError, RateLimitError } from './errors.js';
import { HttpClient, sendWithRetry, type TokenSource } from './http.js';

const servers = scriptedServers();
const listen = servers.listen;
afterEach(() => servers.closeAll());

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const problem = status >= 400;
  res
    .writeHead(status, {
      'content-type': problem ? 'application/problem+json' : 'application/json',
      ...headers,
    })
    .end(JSON.stringify(body));
}

function problem(status: number, code: string) {
  return { type: 'about:blank', title: 'x', status, detail: `detail of ${code}`, code };
}

function staticTokens() {
  let n = 0;
  return {
    getToken: vi.fn(async () => `tok-${++n}`),
    invalidate: vi.fn((_token?: string) => {}),
  } satisfies TokenSource;
}

describe('sendWithRetry', () => {
  it('retries a 429 once after Retry-After seconds, then succeeds', async () => {
    const { url, received } = await listen((_req, res, i) => {
      if (i === 0) send(res, 429, problem(429, 'ERR_RATE_LIMITED'), { 'retry-after': '1' });
      else send(res, 200, { ok: true });
    });
    const response = await sendWithRetry({ method: 'GET', url, headers: {} });
    expect(response.status).toBe(200);
    expect(received).toHaveLength(2);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('backs off with jitter when Retry-After is missing', async () => {
    const { url, received } = await listen((_req, res, i) => send(res, i === 0 ? 503 : 204));
    const sleep = vi.fn(async (_ms: number) => {});
    const response = await sendWithRetry({ method: 'GET', url, headers: {} }, { sleep, random: () => 0.5 });
    expect(response.status).toBe(204);
    expect(received).toHaveLength(2);
    expect(sleep).toHaveBeenCalledOnce();
    const delay = sleep.mock.calls[0]![0];
    expect(delay).toBeGreaterThanOrEqual(250);
    expect(delay).toBeLessThanOrEqual(500);
  });

  it('hands back a Retry-After longer than the cap instead of waiting it out', async () => {
    const { url, received } = await listen((_req, res) =>
      send(res, 429, problem(429, 'ERR_RATE_LIMITED'), { 'retry-after': '120' }),
    );
    const sleep = vi.fn(async () => {});
    const response = await sendWithRetry({ method: 'GET', url, headers: {} }, { sleep });
    expect(response.status).toBe(429);
    expect(received).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('times out a request whose response never comes', async () => {
    const { url } = await listen(() => {});
    const started = Date.now();
    const err = await sendWithRetry({ method: 'GET', url, headers: {} }, { timeoutMs: 150 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CpodError);
    expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out a response whose body stalls', async () => {
    const { url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    });
    const err = await sendWithRetry({ method: 'GET', url, headers: {} }, { timeoutMs: 150 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_TIMEOUT' });
  });

  it('reports a network failure with status 0 and does not retry it', async () => {
    const { url } = await listen(() => {});
    await servers.closeAll();
    const err = await sendWithRetry({
      method: 'POST',
      url: `${url}/v1/people?x=1`,
      headers: {},
      body: '{}',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpodError);
    expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_NETWORK' });
    expect((err as CpodError).message).toMatch(/^POST \/v1\/people failed: ECONNREFUSED/);
    expect((err as CpodError).cause).toBeInstanceOf(Error);
  });
});

describe('HttpClient', () => {
  it('sends the bearer token and JSON, and parses JSON and empty bodies', async () => {
    const { url, received } = await listen((req, res) => {
      if (req.method === 'DELETE') send(res, 204);
      else send(res, 201, { echoed: JSON.parse(req.body) as unknown });
    });
    const tokens = staticTokens();
    const http = new HttpClient({ baseUrl: `${url}/`, tokens });
    await expect(http.request('POST', '/v1/things', { body: { a: 1 } })).resolves.toEqual({
      echoed: { a: 1 },
    });
    await expect(http.request('DELETE', '/v1/things/1')).resolves.toBeUndefined();
    expect(received[0]!.path).toBe('/v1/things');
    expect(received[0]!.headers.authorization).toBe('Bearer tok-1');
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(received[0]!.headers['user-agent']).toMatch(/^cpod-sdk\//);
    expect(received[1]!.headers['content-type']).toBeUndefined();
  });

  it('builds the query string from defined values only', async () => {
    const { url, received } = await listen((_req, res) => send(res, 200, {}));
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await http.request('GET', '/v1/x', { query: { first: 5, after: 'a b&c=', skip: undefined } });
    expect(received[0]!.path).toBe('/v1/x?first=5&after=a+b%26c%3D');
  });

  it('retries a POST once on 429 with the same body', async () => {
    const { url, received } = await listen((_req, res, i) => {
      if (i === 0) send(res, 429, problem(429, 'ERR_RATE_LIMITED'), { 'retry-after': '0' });
      else send(res, 201, { id: '1' });
    });
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await expect(http.request('POST', '/v1/people', { body: { name: 'A' } })).resolves.toEqual({ id: '1' });
    expect(received.map((r) => r.body)).toEqual(['{"name":"A"}', '{"name":"A"}']);
  });

  it('throws RateLimitError with retryAfter after a second 429', async () => {
    const { url, received } = await listen((_req, res) =>
      send(res, 429, problem(429, 'ERR_RATE_LIMITED'), {
        'retry-after': '1',
        'ratelimit-limit': '5',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '1',
      }),
    );
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    const err = await http.request('GET', '/v1/people').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({
      status: 429,
      code: 'ERR_RATE_LIMITED',
      retryAfter: 1,
      limit: 5,
      remaining: 0,
    });
    expect(received).toHaveLength(2);
  });

  it('retries a 503 once, and maps a second 503 to CpodError', async () => {
    const { url, received } = await listen((_req, res, i) => {
      if (i === 2) send(res, 200, { ok: true });
      else send(res, 503, problem(503, 'ERR_SIDECAR_UNAVAILABLE'), { 'retry-after': '0' });
    });
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    const err = await http.request('GET', '/v1/people').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpodError);
    expect(err).toMatchObject({ status: 503, code: 'ERR_SIDECAR_UNAVAILABLE' });
    expect(received).toHaveLength(2);
    await expect(http.request('GET', '/v1/people')).resolves.toEqual({ ok: true });
    expect(received).toHaveLength(3);
  });

  it.each([400, 404, 500, 502])('does not retry a %i', async (status) => {
    const { url, received } = await listen((_req, res) => send(res, status, problem(status, 'ERR_X')));
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await expect(http.request('GET', '/v1/people')).rejects.toMatchObject({ status });
    expect(received).toHaveLength(1);
  });

  it('after a 401 invalidates that token and retries once with a new one', async () => {
    const { url, received } = await listen((req, res) => {
      if (req.headers.authorization === 'Bearer tok-1') {
        send(res, 401, problem(401, 'ERR_AUTH_INVALID_TOKEN'), {
          'www-authenticate': 'Bearer error="invalid_token"',
        });
      } else send(res, 200, { ok: true });
    });
    const tokens = staticTokens();
    const http = new HttpClient({ baseUrl: url, tokens });
    await expect(http.request('GET', '/v1/people/1')).resolves.toEqual({ ok: true });
    expect(tokens.invalidate).toHaveBeenCalledExactlyOnceWith('tok-1');
    expect(received.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('throws AuthError on a second 401 without a third attempt', async () => {
    const { url, received } = await listen((_req, res) =>
      send(res, 401, problem(401, 'ERR_AUTH_INVALID_TOKEN'), { 'x-request-id': 'req-9' }),
    );
    const tokens = staticTokens();
    const http = new HttpClient({ baseUrl: url, tokens });
    const err = await http.request('GET', '/v1/people').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 401, code: 'ERR_AUTH_INVALID_TOKEN', requestId: 'req-9' });
    expect(received).toHaveLength(2);
    expect(tokens.invalidate).toHaveBeenCalledTimes(1);
  });

  it('maps a non-problem error body by status', async () => {
    const { url } = await listen((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>'),
    );
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    const err = await http.request('GET', '/nowhere').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ status: 404, code: 'ERR_RESOURCE_NOT_FOUND' });
  });

  it('rejects a 2xx body that is not JSON', async () => {
    const { url } = await listen((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello'),
    );
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await expect(http.request('GET', '/v1/people')).rejects.toMatchObject({
      status: 200,
      code: 'ERR_SDK_INVALID_RESPONSE',
    });
  });

  it('does not follow redirects', async () => {
    const { url, received } = await listen((req, res) => {
      if (req.path === '/v1/people') res.writeHead(307, { location: '/elsewhere' }).end();
      else send(res, 200, { followed: true });
    });
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await expect(http.request('POST', '/v1/people', { body: {} })).rejects.toMatchObject({ status: 307 });
    expect(received).toHaveLength(1);
  });

  it('scrubs secrets from server-provided messages through the token source', async () => {
    const { url } = await listen((_req, res) =>
      send(res, 400, { ...problem(400, 'ERR_VALIDATION_FAILED'), detail: 'token tok-1 looks odd' }),
    );
    const tokens = { ...staticTokens(), redact: (text: string) => text.replaceAll('tok-1', '[REDACTED]') };
    const http = new HttpClient({ baseUrl: url, tokens });
    const err = (await http.request('GET', '/v1/people').catch((e: unknown) => e)) as CpodError;
    expect(err.message).not.toContain('tok-1');
    expect(err.detail).toBe('token [REDACTED] looks odd');
  });

  it('postGraphQL returns GraphQL bodies whatever the status and throws on problem+json', async () => {
    const { url, received } = await listen((req, res, i) => {
      if (i === 0) send(res, 200, { data: { ok: true } });
      else if (i === 1)
        send(
          res,
          400,
          { errors: [{ message: 'bad', extensions: { code: 'ERR_VALIDATION_FAILED' } }] },
          {
            'content-type': 'application/graphql-response+json',
          },
        );
      else if (i === 2) send(res, 403, problem(403, 'ERR_POLICY_DENIED'));
      else res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>');
      expect(req.path).toBe('/graphql');
    });
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    const query = JSON.stringify({ query: '{ ok }' });
    await expect(http.postGraphQL(query)).resolves.toEqual({ status: 200, body: { data: { ok: true } } });
    expect(received[0]!.body).toBe(query);
    expect(received[0]!.headers.accept).toContain('application/graphql-response+json');
    await expect(http.postGraphQL(query)).resolves.toMatchObject({
      status: 400,
      body: { errors: [{ message: 'bad' }] },
    });
    await expect(http.postGraphQL(query)).rejects.toBeInstanceOf(PolicyDeniedError);
    await expect(http.postGraphQL(query)).rejects.toMatchObject({ status: 502, code: 'ERR_INTERNAL' });
  });

  it('postGraphQL retries a 401 with a new token', async () => {
    const { url, received } = await listen((req, res) => {
      if (req.headers.authorization === 'Bearer tok-1')
        send(res, 401, problem(401, 'ERR_AUTH_INVALID_TOKEN'));
      else send(res, 200, { data: {} });
    });
    const http = new HttpClient({ baseUrl: url, tokens: staticTokens() });
    await expect(http.postGraphQL('{}')).resolves.toMatchObject({ status: 200 });
    expect(received).toHaveLength(2);
  });
});
