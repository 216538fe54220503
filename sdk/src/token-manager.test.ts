import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type Handler, scriptedServers } from '../../test/helpers/scripted-server.js';
import { AuthError, CpodError, RateLimitError } from './errors.js';
import { basicAuthorization, formUrlEncode, TokenManager } from './token-manager.js';

const servers = scriptedServers();
const listen = servers.listen;
afterEach(() => servers.closeAll());

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** A token endpoint issuing `tok-1`, `tok-2`, ... after an optional delay. */
function issuing(expiresIn: number, delayMs = 0): Handler {
  return (_req, res, i) => {
    setTimeout(
      () =>
        json(res, 200, {
          access_token: `tok-${i + 1}`,
          token_type: 'Bearer',
          expires_in: expiresIn,
          scope: '',
        }),
      delayMs,
    );
  };
}

/** How an RFC 6749 server decodes HTTP Basic client authentication. */
function decodeBasic(header: string | undefined): [string, string] {
  const decoded = Buffer.from((header ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
  const [id = '', secret = ''] = decoded.split(':');
  const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  return [unform(id), unform(secret)];
}

const SECRET = 'p@ss:w/rd+1 é%&=';

describe('TokenManager', () => {
  it('requests client_credentials at /v1/oauth/token with HTTP Basic and the scope', async () => {
    const { url, received } = await listen(issuing(3600));
    const tokens = new TokenManager({
      baseUrl: `${url}/`,
      clientId: 'my app',
      clientSecret: SECRET,
      scope: ['people:read', 'people:write'],
    });
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    const [req] = received;
    expect(req!.path).toBe('/v1/oauth/token');
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req!.body);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('scope')).toBe('people:read people:write');
    // Credentials travel in exactly one place (RFC 6749 §2.3).
    expect(form.has('client_id')).toBe(false);
    expect(form.has('client_secret')).toBe(false);
    expect(req!.headers.authorization).toBe(
      `Basic ${Buffer.from('my+app:p%40ss%3Aw%2Frd%2B1+%C3%A9%25%26%3D').toString('base64')}`,
    );
    expect(decodeBasic(req!.headers.authorization)).toEqual(['my app', SECRET]);
  });

  it('form-encodes the characters encodeURIComponent leaves alone', () => {
    expect(formUrlEncode("a!b'c(d)e*f~g h")).toBe('a%21b%27c%28d%29e%2Af%7Eg+h');
    expect(decodeBasic(basicAuthorization('id:with:colons', "s!'()*~"))).toEqual([
      'id:with:colons',
      "s!'()*~",
    ]);
  });

  it('omits scope when none is configured', async () => {
    const { url, received } = await listen(issuing(3600));
    await new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' }).getToken();
    expect(received[0]!.body).toBe('grant_type=client_credentials');
  });

  it('shares one in-flight request among concurrent callers and caches the result', async () => {
    const { url, received } = await listen(issuing(3600, 50));
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' });
    const all = await Promise.all(Array.from({ length: 25 }, () => tokens.getToken()));
    expect(new Set(all)).toEqual(new Set(['tok-1']));
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    expect(received).toHaveLength(1);
  });

  it('refreshes once 80 % of expires_in has passed (injected clock)', async () => {
    const { url, received } = await listen(issuing(100));
    let now = 1_000_000;
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's', now: () => now });
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    now += 79_999;
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    now += 1;
    await expect(tokens.getToken()).resolves.toBe('tok-2');
    expect(received).toHaveLength(2);
  });

  it('refreshes a 2 s token after 1.6 s (real clock)', async () => {
    const { url, received } = await listen(issuing(2));
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' });
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    await new Promise((resolve) => setTimeout(resolve, 700));
    await expect(tokens.getToken()).resolves.toBe('tok-2');
    expect(received).toHaveLength(2);
  });

  it('invalidate(token) drops only that token', async () => {
    const { url, received } = await listen(issuing(3600));
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' });
    const first = await tokens.getToken();
    tokens.invalidate(first);
    const second = await tokens.getToken();
    expect(second).toBe('tok-2');
    // A late 401 for the old token must not throw away the fresh one.
    tokens.invalidate(first);
    await expect(tokens.getToken()).resolves.toBe('tok-2');
    tokens.invalidate();
    await expect(tokens.getToken()).resolves.toBe('tok-3');
    expect(received).toHaveLength(3);
  });

  it('maps invalid_client to AuthError without the secret, and does not cache failures', async () => {
    const { url, received } = await listen((req, res, i) => {
      if (i === 0) {
        const [, secret] = decodeBasic(req.headers.authorization);
        // A careless server echoing the secret must not leak it into the message.
        json(res, 401, { error: 'invalid_client', error_description: `bad secret ${secret}` });
      } else json(res, 200, { access_token: 'tok-ok', token_type: 'bearer', expires_in: 60 });
    });
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: SECRET });
    const err = (await tokens.getToken().catch((e: unknown) => e)) as AuthError;
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 401, code: 'ERR_AUTH_INVALID_CLIENT', oauthError: 'invalid_client' });
    for (const text of [err.message, err.detail ?? '', String(err), inspect(err), JSON.stringify(err)]) {
      expect(text).not.toContain(SECRET);
    }
    expect(err.message).toContain('[REDACTED]');
    await expect(tokens.getToken()).resolves.toBe('tok-ok');
    expect(received).toHaveLength(2);
  });

  it('maps invalid_scope (400) to AuthError', async () => {
    const { url } = await listen((_req, res) =>
      json(res, 400, { error: 'invalid_scope', error_description: 'scope not granted: admin' }),
    );
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's', scope: 'admin' });
    await expect(tokens.getToken()).rejects.toMatchObject({
      name: 'AuthError',
      status: 400,
      code: 'ERR_AUTH_INVALID_SCOPE',
      detail: 'scope not granted: admin',
    });
  });

  it('retries the token endpoint once on 503 and 429', async () => {
    const { url, received } = await listen((_req, res, i) => {
      if (i === 0) res.writeHead(503, { 'retry-after': '0' }).end();
      else if (i === 2 || i === 3) json(res, 429, { error: 'rate_limited' }, { 'retry-after': '0' });
      else json(res, 200, { access_token: `tok-${i}`, token_type: 'Bearer', expires_in: 60 });
    });
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' });
    await expect(tokens.getToken()).resolves.toBe('tok-1');
    tokens.invalidate();
    await expect(tokens.getToken()).rejects.toBeInstanceOf(RateLimitError);
    expect(received).toHaveLength(4);
  });

  it('rejects an unusable token response', async () => {
    const { url } = await listen((_req, res, i) => {
      if (i === 0) json(res, 200, { token_type: 'Bearer' });
      else json(res, 200, { access_token: 'x', token_type: 'mac' });
    });
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: 's' });
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'ERR_SDK_INVALID_RESPONSE' });
    const err = await tokens.getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpodError);
    expect((err as CpodError).message).toContain('Bearer');
  });

  it('keeps the secret and tokens out of inspect()', async () => {
    const { url } = await listen(issuing(60));
    const tokens = new TokenManager({ baseUrl: url, clientId: 'c', clientSecret: SECRET });
    const token = await tokens.getToken();
    const printed = inspect(tokens, { depth: 5, showHidden: true });
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain(token);
    expect(tokens.redact(`a ${token} b ${SECRET}`)).toBe('a [REDACTED] b [REDACTED]');
  });
});
