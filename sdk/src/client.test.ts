import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CpodClient } from './client.js';
import {
  AuthError,
  CpodError,
  NotFoundError,
  PolicyDeniedError,
  RateLimitError,
  ValidationError,
} from './errors.js';
import type { Person } from './people.js';

const CLIENT_ID = 'app_123';
const CLIENT_SECRET = 'sec:ret+/ with spaces & é';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Answers instead of the routes for the request it returns true for. */
type Override = (req: Received, res: ServerResponse) => boolean;

/**
 * A scripted stand-in for the gateway: token endpoint plus in-memory people routes, with
 * one-shot overrides to inject failures. The real gateway is exercised by the e2e tests.
 */
class FakeGateway {
  url = '';
  readonly received: Received[] = [];
  readonly validTokens = new Set<string>();
  readonly people = new Map<string, Person>();
  overrides: Override[] = [];
  tokenCount = 0;
  expiresIn = 3600;
  readonly #server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const entry = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      this.received.push(entry);
      const index = this.overrides.findIndex((override) => override(entry, res));
      if (index >= 0) this.overrides.splice(index, 1);
      else this.#route(entry, res);
    });
  });

  get apiRequests(): Received[] {
    return this.received.filter((r) => r.path.startsWith('/v1/people'));
  }

  get tokenRequests(): Received[] {
    return this.received.filter((r) => r.path === '/v1/oauth/token');
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #route(req: Received, res: ServerResponse): void {
    if (req.method === 'POST' && req.path === '/v1/oauth/token') {
      this.#token(req, res);
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !this.validTokens.has(token)) {
      problem(res, 401, 'ERR_AUTH_INVALID_TOKEN', 'invalid token', {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
      return;
    }
    const url = new URL(req.path, 'http://x');
    const match = /^\/v1\/people(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) {
      problem(res, 404, 'ERR_RESOURCE_NOT_FOUND', 'no route');
      return;
    }
    const id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    const now = new Date().toISOString();
    if (id === undefined && req.method === 'POST') {
      const input = JSON.parse(req.body) as { name?: string; email?: string; phone?: string };
      if (!input.name) {
        problem(res, 400, 'ERR_VALIDATION_FAILED', 'name is required', {}, 'name');
        return;
      }
      const person: Person = {
        id: randomUUID(),
        name: input.name,
        email: input.email ?? null,
        phone: input.phone ?? null,
        createdAt: now,
        updatedAt: now,
      };
      this.people.set(person.id, person);
      json(res, 201, person);
      return;
    }
    if (id === undefined && req.method === 'GET') {
      const first = Number(url.searchParams.get('first') ?? 10);
      const after = url.searchParams.get('after');
      const all = [...this.people.values()];
      const start = after === null ? 0 : all.findIndex((p) => p.id === after) + 1;
      const page = all.slice(start, start + first);
      json(res, 200, {
        edges: page.map((node) => ({ cursor: node.id, node })),
        nodes: page,
        pageInfo: { hasNextPage: start + first < all.length, endCursor: page.at(-1)?.id ?? null },
      });
      return;
    }
    const person = id === undefined ? undefined : this.people.get(id);
    if (!person || id === undefined) {
      problem(res, 404, 'ERR_RESOURCE_NOT_FOUND', 'person not found');
      return;
    }
    if (req.method === 'GET') {
      json(res, 200, person);
      return;
    }
    if (req.method === 'PATCH') {
      const updated = { ...person, ...(JSON.parse(req.body) as Partial<Person>), updatedAt: now };
      this.people.set(id, updated);
      json(res, 200, updated);
      return;
    }
    if (req.method === 'DELETE') {
      this.people.delete(id);
      res.writeHead(204).end();
      return;
    }
    problem(res, 405, 'ERR_REQUEST_METHOD_NOT_ALLOWED', 'method not allowed');
  }

  #token(req: Received, res: ServerResponse): void {
    const decoded = Buffer.from(
      (req.headers.authorization ?? '').replace(/^Basic /, ''),
      'base64',
    ).toString();
    const [id = '', secret = ''] = decoded.split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
    if (id !== CLIENT_ID || secret !== CLIENT_SECRET) {
      json(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
      return;
    }
    const token = `tok-${++this.tokenCount}`;
    this.validTokens.add(token);
    json(res, 200, {
      access_token: token,
      token_type: 'Bearer',
      expires_in: this.expiresIn,
      scope: 'people:read',
    });
  }
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function problem(
  res: ServerResponse,
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
  field?: string,
): void {
  const body = { type: `https://cpod.dev/problems/${code}`, title: 'Error', status, detail, code, field };
  res
    .writeHead(status, {
      'content-type': 'application/problem+json',
      'x-request-id': `req-${status}`,
      ...headers,
    })
    .end(JSON.stringify(body));
}

let gateway: FakeGateway;
let client: CpodClient;

beforeEach(async () => {
  gateway = new FakeGateway();
  await gateway.start();
  client = new CpodClient({ baseUrl: gateway.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
});

afterEach(async () => {
  await gateway.stop();
});

describe('CpodClient people', () => {
  it('creates, reads, updates, lists and deletes', async () => {
    const ada = await client.people.create({ name: 'Ada', email: 'ada@example.com' });
    expect(ada).toMatchObject({ name: 'Ada', email: 'ada@example.com', phone: null });
    expect(typeof ada.createdAt).toBe('string');
    await expect(client.people.get(ada.id)).resolves.toEqual(ada);

    const updated = await client.people.update(ada.id, { phone: '+1 555', email: null });
    expect(updated).toMatchObject({ id: ada.id, name: 'Ada', email: null, phone: '+1 555' });
    expect(JSON.parse(gateway.apiRequests.at(-1)!.body)).toEqual({ phone: '+1 555', email: null });

    const page = await client.people.list({ first: 10 });
    expect(page.nodes.map((p) => p.id)).toEqual([ada.id]);
    expect(page.edges[0]).toEqual({ cursor: ada.id, node: updated });
    expect(page.pageInfo).toEqual({ hasNextPage: false, endCursor: ada.id });

    await expect(client.people.delete(ada.id)).resolves.toBeUndefined();
    await expect(client.people.get(ada.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.people.delete(ada.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(gateway.tokenRequests).toHaveLength(1);
  });

  it('pages with first/after in the query string', async () => {
    for (const name of ['a', 'b', 'c']) await client.people.create({ name });
    const first = await client.people.list({ first: 2 });
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await client.people.list({ first: 2, after: first.pageInfo.endCursor! });
    expect(second.nodes.map((p) => p.name)).toEqual(['c']);
    await client.people.list();
    await client.people.list({ after: 'x/y=z&w' });
    const paths = gateway.apiRequests.filter((r) => r.method === 'GET').map((r) => r.path);
    expect(paths).toEqual([
      '/v1/people?first=2',
      `/v1/people?first=2&after=${first.pageInfo.endCursor}`,
      '/v1/people',
      '/v1/people?after=x%2Fy%3Dz%26w',
    ]);
  });

  it('encodes ids as one path segment and refuses ids that would change the route', async () => {
    await expect(client.people.get('a/b c?d#e')).rejects.toBeInstanceOf(NotFoundError);
    expect(gateway.apiRequests.at(-1)!.path).toBe('/v1/people/a%2Fb%20c%3Fd%23e');
    for (const id of ['', '.', '..']) {
      const err = await client.people.get(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_INVALID_ARGUMENT', field: 'id' });
    }
    await expect(client.people.delete('..')).rejects.toBeInstanceOf(ValidationError);
    await expect(client.people.update('', { name: 'x' })).rejects.toBeInstanceOf(ValidationError);
    expect(gateway.apiRequests).toHaveLength(1);
  });

  it('never sends the tenant id', async () => {
    const withTenant = CpodClient.fromEnv({
      CPOD_API_URL: gateway.url,
      CPOD_CLIENT_ID: CLIENT_ID,
      CPOD_CLIENT_SECRET: CLIENT_SECRET,
      CPOD_TENANT_ID: 'tenant-secret-marker',
    });
    expect(withTenant.tenantId).toBe('tenant-secret-marker');
    const p = await withTenant.people.create({ name: 'T' });
    await withTenant.people.update(p.id, { name: 'U' });
    await withTenant.people.list({ first: 1 });
    for (const req of gateway.received) {
      expect(JSON.stringify(req)).not.toContain('tenant-secret-marker');
      expect(Object.keys(req.headers).some((h) => h.includes('tenant'))).toBe(false);
    }
  });
});

describe('CpodClient tokens', () => {
  it('fetches one token for many concurrent calls', async () => {
    await client.people.create({ name: 'x' });
    const fresh = new CpodClient({ baseUrl: gateway.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const before = gateway.tokenRequests.length;
    await Promise.all(Array.from({ length: 30 }, () => fresh.people.list({ first: 1 })));
    expect(gateway.tokenRequests.length - before).toBe(1);
  });

  it('after a 401 fetches a new token and retries once', async () => {
    const p = await client.people.create({ name: 'x' });
    gateway.validTokens.clear(); // e.g. the token was revoked
    await expect(client.people.get(p.id)).resolves.toMatchObject({ id: p.id });
    expect(gateway.tokenRequests).toHaveLength(2);
    expect(gateway.apiRequests.slice(-2).map((r) => r.headers.authorization)).toEqual([
      'Bearer tok-1',
      'Bearer tok-2',
    ]);
  });

  it('throws AuthError when the new token is rejected too', async () => {
    gateway.validTokens.add = function (this: Set<string>) {
      return this; // the server accepts no token at all
    };
    const err = await client.people.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 401, code: 'ERR_AUTH_INVALID_TOKEN', requestId: 'req-401' });
    expect(gateway.tokenRequests).toHaveLength(2);
    expect(gateway.apiRequests).toHaveLength(2);
  });

  it('refreshes the token after 80 % of expires_in', async () => {
    gateway.expiresIn = 2;
    await client.people.list();
    await new Promise((resolve) => setTimeout(resolve, 1700));
    await client.people.list();
    expect(gateway.apiRequests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('reports bad credentials as AuthError', async () => {
    const bad = new CpodClient({ baseUrl: gateway.url, clientId: CLIENT_ID, clientSecret: 'wrong' });
    await expect(bad.people.list()).rejects.toMatchObject({
      name: 'AuthError',
      status: 401,
      code: 'ERR_AUTH_INVALID_CLIENT',
    });
    expect(gateway.apiRequests).toHaveLength(0);
  });
});

describe('CpodClient retries and errors', () => {
  it('retries a 429 after Retry-After: 1 and then succeeds', async () => {
    gateway.overrides.push((req, res) => {
      if (!req.path.startsWith('/v1/people')) return false;
      problem(res, 429, 'ERR_RATE_LIMITED', 'slow down', { 'retry-after': '1' });
      return true;
    });
    const started = Date.now();
    await expect(client.people.create({ name: 'x' })).resolves.toMatchObject({ name: 'x' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(gateway.apiRequests).toHaveLength(2);
    expect(gateway.people.size).toBe(1);
  });

  it('throws RateLimitError with retryAfter after a second 429', async () => {
    const limited: Override = (req, res) => {
      if (!req.path.startsWith('/v1/people')) return false;
      problem(res, 429, 'ERR_RATE_LIMITED', 'slow down', {
        'retry-after': '1',
        'ratelimit-limit': '10',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '1',
      });
      return true;
    };
    gateway.overrides.push(limited, limited);
    const err = await client.people.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ status: 429, retryAfter: 1, limit: 10, remaining: 0, reset: 1 });
    expect(gateway.apiRequests).toHaveLength(2);
  });

  it('retries a 503 once', async () => {
    gateway.overrides.push((req, res) => {
      if (!req.path.startsWith('/v1/people')) return false;
      problem(res, 503, 'ERR_SIDECAR_UNAVAILABLE', 'sidecar unavailable', { 'retry-after': '0' });
      return true;
    });
    await expect(client.people.list()).resolves.toMatchObject({ nodes: [] });
    expect(gateway.apiRequests).toHaveLength(2);
  });

  it.each([
    [400, 'ERR_VALIDATION_FAILED', ValidationError],
    [403, 'ERR_POLICY_DENIED', PolicyDeniedError],
    [404, 'ERR_RESOURCE_NOT_FOUND', NotFoundError],
    [413, 'ERR_REQUEST_TOO_LARGE', ValidationError],
    [415, 'ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE', ValidationError],
    [422, 'ERR_VALIDATION_FAILED', ValidationError],
    [500, 'ERR_INTERNAL', CpodError],
  ])('maps %i to %s', async (status, code, cls) => {
    gateway.overrides.push((req, res) => {
      if (!req.path.startsWith('/v1/people')) return false;
      problem(res, status, code, `detail ${status}`, {}, 'email');
      return true;
    });
    const err = await client.people.create({ name: 'x', email: 'bad' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({
      status,
      code,
      detail: `detail ${status}`,
      field: 'email',
      requestId: `req-${status}`,
    });
    expect(gateway.apiRequests).toHaveLength(1);
  });

  it('maps a validation failure of the real route', async () => {
    const err = await client.people.create({ name: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ status: 400, code: 'ERR_VALIDATION_FAILED', field: 'name' });
  });

  it('maps a network failure to CpodError with status 0', async () => {
    await gateway.stop();
    const err = await client.people.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpodError);
    expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_NETWORK' });
    await gateway.start(); // so afterEach can stop it
  });

  it('times out with status 0', async () => {
    const slow = new CpodClient({
      baseUrl: gateway.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      timeoutMs: 200,
    });
    gateway.overrides.push((req) => req.path.startsWith('/v1/people')); // never answers
    await expect(slow.people.list()).rejects.toMatchObject({ status: 0, code: 'ERR_SDK_TIMEOUT' });
  });

  it('puts neither the secret nor a token in any error', async () => {
    const errors: unknown[] = [];
    const collect = (promise: Promise<unknown>) => promise.catch((e: unknown) => errors.push(e));
    await collect(client.people.get('missing'));
    gateway.validTokens.add = function (this: Set<string>) {
      return this;
    };
    gateway.validTokens.clear();
    await collect(client.people.list());
    await collect(
      new CpodClient({ baseUrl: gateway.url, clientId: CLIENT_ID, clientSecret: 'nope' }).people.list(),
    );
    // A misbehaving server echoing the credentials it was sent, on both attempts.
    const echo: Override = (req, res) => {
      problem(res, 401, 'ERR_AUTH_INVALID_TOKEN', `rejected ${req.headers.authorization} ${CLIENT_SECRET}`);
      return true;
    };
    gateway.overrides.push(echo, echo);
    await collect(client.people.get('x'));
    await gateway.stop();
    await collect(client.people.list());
    await gateway.start();
    await collect(Promise.reject(captureConfigError()));

    expect(errors.length).toBeGreaterThanOrEqual(5);
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
    for (const err of errors) {
      expect(err).toBeInstanceOf(CpodError);
      const texts = [String(err), (err as Error).message, inspect(err, { depth: 5 }), JSON.stringify(err)];
      for (const text of texts) {
        expect(text).not.toContain(CLIENT_SECRET);
        expect(text).not.toContain(basic);
        expect(text).not.toMatch(/tok-\d/);
      }
    }
    expect(inspect(client, { depth: 10, showHidden: true })).not.toContain(CLIENT_SECRET);
  });
});

function captureConfigError(): unknown {
  try {
    CpodClient.fromEnv({ CPOD_CLIENT_SECRET: CLIENT_SECRET });
  } catch (err) {
    return err;
  }
  throw new Error('expected fromEnv to throw');
}

describe('CpodClient.fromEnv', () => {
  it('defaults the API URL to http://localhost:8000', () => {
    const c = CpodClient.fromEnv({ CPOD_CLIENT_ID: 'id', CPOD_CLIENT_SECRET: 'secret' });
    expect(c.baseUrl).toBe('http://localhost:8000');
    expect(c.clientId).toBe('id');
    expect(c.tenantId).toBeUndefined();
    expect(c.tokens.tokenUrl).toBe('http://localhost:8000/v1/oauth/token');
  });

  it('reads CPOD_API_URL and CPOD_TENANT_ID, keeping a path prefix', () => {
    const c = CpodClient.fromEnv({
      CPOD_API_URL: 'https://api.example.com/cpod/',
      CPOD_CLIENT_ID: 'id',
      CPOD_CLIENT_SECRET: 'secret',
      CPOD_TENANT_ID: 't1',
    });
    expect(c.baseUrl).toBe('https://api.example.com/cpod');
    expect(c.tenantId).toBe('t1');
    expect(c.tokens.tokenUrl).toBe('https://api.example.com/cpod/v1/oauth/token');
  });

  it.each([
    [{ CPOD_CLIENT_SECRET: 's' }, /CPOD_CLIENT_ID/, /CPOD_CLIENT_SECRET/],
    [{ CPOD_CLIENT_ID: 'i' }, /CPOD_CLIENT_SECRET/, /CPOD_CLIENT_ID/],
    [{ CPOD_CLIENT_ID: '', CPOD_CLIENT_SECRET: '  ' }, /CPOD_CLIENT_ID and CPOD_CLIENT_SECRET/, /^$/],
    [{}, /CPOD_CLIENT_ID and CPOD_CLIENT_SECRET/, /^$/],
  ])('names the missing variable (%o)', (env, mentions, omits) => {
    const err = (() => {
      try {
        CpodClient.fromEnv(env);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CpodError);
    expect(err).toMatchObject({ status: 0, code: 'ERR_SDK_CONFIG' });
    expect((err as Error).message).toMatch(mentions);
    if (omits.source !== '^$') expect((err as Error).message).not.toMatch(omits);
  });

  it('rejects an invalid CPOD_API_URL without echoing it', () => {
    expect(() =>
      CpodClient.fromEnv({ CPOD_API_URL: 'not a url', CPOD_CLIENT_ID: 'i', CPOD_CLIENT_SECRET: 's' }),
    ).toThrow(/^CPOD_API_URL is not a valid URL$/);
    expect(() =>
      CpodClient.fromEnv({ CPOD_API_URL: 'ftp://x', CPOD_CLIENT_ID: 'i', CPOD_CLIENT_SECRET: 's' }),
    ).toThrow(/http or https/);
  });

  it('uses process.env by default', () => {
    const saved = { ...process.env };
    try {
      process.env.CPOD_CLIENT_ID = 'from-process';
      process.env.CPOD_CLIENT_SECRET = 'x';
      delete process.env.CPOD_API_URL;
      expect(CpodClient.fromEnv().clientId).toBe('from-process');
    } finally {
      process.env = saved;
    }
  });

  it('validates constructor options', () => {
    expect(() => new CpodClient({ baseUrl: 'http://h', clientId: '', clientSecret: 's' })).toThrow(CpodError);
    expect(() => new CpodClient({ baseUrl: 'http://h', clientId: 'i', clientSecret: '' })).toThrow(
      /clientSecret is required/,
    );
    expect(() => new CpodClient({ baseUrl: 'http://u:p@h', clientId: 'i', clientSecret: 's' })).toThrow(
      /credentials/,
    );
  });
});
