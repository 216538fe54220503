import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  CpodClient,
  CreatePersonDocument,
  GetPersonDocument,
  ListPeopleDocument,
  SidecarClient,
} from '@cpod/sdk';
import { exportSPKI, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppCredentials,
  createApp,
  getToken,
  type Platform,
  ROOT,
  signingKey,
  startPlatform,
} from './helpers/platform.js';

let platform: Platform;
let writer: AppCredentials;
let reader: AppCredentials;
let other: AppCredentials;
let writerToken: string;

beforeAll(async () => {
  platform = await startPlatform();
  [writer, reader, other] = await Promise.all([
    createApp(platform, { tenant_id: 'acme', scopes: ['people:read', 'people:write', 'audit:read'] }),
    createApp(platform, { tenant_id: 'acme', scopes: ['people:read', 'audit:read'] }),
    createApp(platform, { tenant_id: 'globex', scopes: ['people:read', 'people:write'] }),
  ]);
  writerToken = await getToken(platform, writer);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
  fetch(`${platform.gatewayUrl}${path}`, {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
  });

const gql = (token: string | undefined, query: string, variables?: unknown, base = platform.gatewayUrl) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });

async function count(token: string): Promise<number> {
  let total = 0;
  let after: string | null = null;
  do {
    const res = await api(`/v1/people?first=100${after ? `&after=${after}` : ''}`, token);
    const page = (await res.json()) as {
      nodes: unknown[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
    total += page.nodes.length;
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after);
  return total;
}

describe('the call path over REST', () => {
  it('creates, reads, updates, lists and deletes a person', async () => {
    const created = await api('/v1/people', writerToken, {
      method: 'POST',
      body: JSON.stringify({ name: 'Ada Lovelace', email: 'ada@example.com' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('ratelimit-limit')).toBeTruthy();
    expect(created.headers.get('x-request-id')).toBeTruthy();
    const person = (await created.json()) as Record<string, unknown>;
    expect(person).toMatchObject({ name: 'Ada Lovelace', email: 'ada@example.com', phone: null });
    expect(Object.keys(person).sort()).toEqual(['createdAt', 'email', 'id', 'name', 'phone', 'updatedAt']);

    const read = await api(`/v1/people/${person.id}`, writerToken);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual(person);

    const patched = await api(`/v1/people/${person.id}`, writerToken, {
      method: 'PATCH',
      body: JSON.stringify({ phone: '+44 20 7946 0000', email: null }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: person.id, phone: '+44 20 7946 0000', email: null });

    const list = (await (await api('/v1/people?first=100', writerToken)).json()) as {
      nodes: { id: string }[];
      edges: unknown[];
    };
    expect(list.nodes.map((p) => p.id)).toContain(person.id);

    expect((await api(`/v1/people/${person.id}`, writerToken, { method: 'DELETE' })).status).toBe(204);
    const gone = await api(`/v1/people/${person.id}`, writerToken);
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toContain('application/problem+json');
    expect((await api(`/v1/people/${person.id}`, writerToken, { method: 'DELETE' })).status).toBe(404);
  });

  it('paginates with cursors and no duplicates', async () => {
    const client = await getToken(platform, other);
    for (let i = 0; i < 5; i++) {
      await api('/v1/people', client, { method: 'POST', body: JSON.stringify({ name: `Page ${i}` }) });
    }
    const seen: string[] = [];
    let after = '';
    for (;;) {
      const page = (await (
        await api(`/v1/people?first=2${after ? `&after=${after}` : ''}`, client)
      ).json()) as {
        nodes: { id: string }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
      seen.push(...page.nodes.map((p) => p.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('the call path over GraphQL and the SDK', () => {
  it('runs the same operations through GraphQL', async () => {
    const res = await gql(
      writerToken,
      'mutation($i: CreatePersonInput!) { createPerson(input: $i) { id name email } }',
      {
        i: { name: 'Grace Hopper', email: 'grace@example.com' },
      },
    );
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: { createPerson: { id: string } } };
    const got = (await (
      await gql(writerToken, 'query($id: ID!) { person(id: $id) { id name } }', { id: data.createPerson.id })
    ).json()) as {
      data: { person: { name: string } };
    };
    expect(got.data.person.name).toBe('Grace Hopper');
    const restView = await api(`/v1/people/${data.createPerson.id}`, writerToken);
    expect(restView.status).toBe(200);
  });

  it('works through CpodClient: REST methods and typed GraphQL documents', async () => {
    const client = new CpodClient({
      baseUrl: platform.gatewayUrl,
      clientId: writer.client_id,
      clientSecret: writer.client_secret,
    });
    const person = await client.people.create({ name: 'Katherine Johnson', phone: '+1 555 0100' });
    expect((await client.people.get(person.id)).name).toBe('Katherine Johnson');
    expect((await client.people.update(person.id, { name: 'K. Johnson' })).name).toBe('K. Johnson');
    const page = await client.people.list({ first: 100 });
    expect(page.nodes.some((p) => p.id === person.id)).toBe(true);
    await client.people.delete(person.id);
    await expect(client.people.get(person.id)).rejects.toMatchObject({ name: 'NotFoundError', status: 404 });

    const created = await client.graphql.execute(CreatePersonDocument, { input: { name: 'Typed Doc' } });
    const fetched = await client.graphql.execute(GetPersonDocument, { id: created.createPerson.id });
    expect(fetched.person?.name).toBe('Typed Doc');
    const listed = await client.graphql.execute(ListPeopleDocument, { first: 100 });
    expect(listed.people.edges.some((e) => e.node.id === created.createPerson.id)).toBe(true);
  });
});

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('401: every forged or broken token is refused', () => {
  const expect401 = async (token: string | undefined, label: string) => {
    const res = await api('/v1/people', token);
    expect(res.status, label).toBe(401);
    expect(res.headers.get('www-authenticate'), label).toContain('Bearer');
    expect(res.headers.get('www-authenticate'), label).toContain('error="invalid_token"');
    expect(res.headers.get('content-type'), label).toContain('application/problem+json');
    const g = await gql(token, '{ people { nodes { id } } }');
    expect(g.status, `${label} (graphql)`).toBe(401);
  };

  it('missing, garbage and malformed headers', async () => {
    await expect401(undefined, 'missing');
    await expect401('garbage', 'garbage');
    const res = await fetch(`${platform.gatewayUrl}/v1/people`, {
      headers: { authorization: `Basic ${writerToken}` },
    });
    expect(res.status).toBe(401);
    const query = await fetch(`${platform.gatewayUrl}/v1/people?access_token=${writerToken}`);
    expect(query.status).toBe(401);
  });

  it('expired, wrong audience, wrong issuer, edited payload, alg none, HS256 with the public key', async () => {
    const { kid, privateJwk } = signingKey(platform);
    const key = await importJWK(privateJwk as never, 'RS256');
    const [header, payload, signature] = writerToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const sign = (overrides: Record<string, unknown>) =>
      new SignJWT({ ...claims, ...overrides })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
        .sign(key);
    const now = Math.floor(Date.now() / 1000);
    await expect401(await sign({ iat: now - 7200, exp: now - 3600 }), 'expired');
    await expect401(await sign({ aud: 'someone-else' }), 'wrong audience');
    await expect401(await sign({ iss: 'https://evil.example' }), 'wrong issuer');
    await expect401(`${header}.${b64url({ ...claims, tenant_id: 'globex' })}.${signature}`, 'edited payload');
    await expect401(`${b64url({ alg: 'none', typ: 'at+jwt' })}.${payload}.`, 'alg none');
    const publicPem = await exportSPKI(
      (await importJWK({ kty: 'RSA', n: privateJwk.n, e: privateJwk.e } as never, 'RS256')) as never,
    );
    const hsHeader = b64url({ alg: 'HS256', typ: 'at+jwt', kid });
    const hsSig = createHmac('sha256', publicPem).update(`${hsHeader}.${payload}`).digest('base64url');
    await expect401(`${hsHeader}.${payload}.${hsSig}`, 'HS256 keyed with the public key');
    // The genuine token still works: the failures above are about the forgeries.
    expect((await api('/v1/people', writerToken)).status).toBe(200);
  });

  it('a revoked token is refused at once', async () => {
    const token = await getToken(platform, writer);
    expect((await api('/v1/people', token)).status).toBe(200);
    const res = await fetch(`${platform.gatewayUrl}/v1/oauth/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${writer.client_id}:${writer.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    expect(res.status).toBe(200);
    expect((await api('/v1/people', token)).status).toBe(401);
  });
});

describe('403: the policy denies writes without people:write', () => {
  it('refuses REST and GraphQL writes and writes nothing', async () => {
    const token = await getToken(platform, reader);
    const before = await count(token);
    const rest = await api('/v1/people', token, {
      method: 'POST',
      body: JSON.stringify({ name: 'Mallory' }),
    });
    expect(rest.status).toBe(403);
    const problem = (await rest.json()) as { code: string; detail: string };
    expect(problem.code).toBe('ERR_POLICY_DENIED');
    expect(problem.detail).toContain('people:write');
    const g = await gql(token, 'mutation { createPerson(input: {name: "Mallory"}) { id } }');
    expect(g.status).toBe(403);
    const body = (await g.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('ERR_POLICY_DENIED');
    expect(await count(token)).toBe(before);
    // Reading is allowed with people:read.
    expect((await api('/v1/people', token)).status).toBe(200);
  });
});

describe('429: the token bucket empties', () => {
  it('answers 429 with Retry-After once the app limit is spent', async () => {
    const limited = await createApp(platform, {
      tenant_id: 'tiny',
      scopes: ['people:read'],
      rate_limit: { capacity: 3, refill_per_second: 0.2 },
    });
    const token = await getToken(platform, limited);
    const statuses: number[] = [];
    let last = await api('/v1/people', token);
    statuses.push(last.status);
    for (let i = 0; i < 4; i++) {
      last = await api('/v1/people', token);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last.headers.get('ratelimit-remaining')).toBe('0');
    expect(((await last.json()) as { code: string }).code).toBe('ERR_RATE_LIMITED');
    const g = await gql(token, '{ people { nodes { id } } }');
    expect(g.status).toBe(429);
    expect(g.headers.get('retry-after')).toBeTruthy();
  });
});

describe('tenant isolation', () => {
  it('keeps tenants apart by id, in lists, and ignores a spoofed tenant', async () => {
    const acme = writerToken;
    const globex = await getToken(platform, other);
    const mine = (await (
      await api('/v1/people', acme, { method: 'POST', body: JSON.stringify({ name: 'Acme Only' }) })
    ).json()) as { id: string };
    expect((await api(`/v1/people/${mine.id}`, globex)).status).toBe(404);
    expect(
      (await api(`/v1/people/${mine.id}`, globex, { method: 'PATCH', body: JSON.stringify({ name: 'x' }) }))
        .status,
    ).toBe(404);
    expect((await api(`/v1/people/${mine.id}`, globex, { method: 'DELETE' })).status).toBe(404);
    const globexList = (await (await api('/v1/people?first=100', globex)).json()) as {
      nodes: { id: string }[];
    };
    expect(globexList.nodes.map((p) => p.id)).not.toContain(mine.id);

    const spoofed = await api('/v1/people?tenantId=acme', globex, {
      method: 'POST',
      headers: { 'x-tenant-id': 'acme' },
      body: JSON.stringify({ name: 'Spoofer', tenantId: 'acme', tenant_id: 'acme' }),
    });
    expect(spoofed.status).toBe(201);
    const spoof = (await spoofed.json()) as { id: string };
    expect((await api(`/v1/people/${spoof.id}`, acme)).status).toBe(404);
    expect((await api(`/v1/people/${spoof.id}`, globex)).status).toBe(200);
    const acmeViaSpoof = (await (
      await api('/v1/people?first=100&tenantId=acme', globex, { headers: { 'x-tenant-id': 'acme' } })
    ).json()) as {
      nodes: { id: string }[];
    };
    expect(acmeViaSpoof.nodes.map((p) => p.id)).not.toContain(mine.id);
    const g = (await (
      await gql(globex, 'query($id: ID!) { person(id: $id) { id } }', { id: mine.id })
    ).json()) as { data: { person: null } };
    expect(g.data.person).toBeNull();
  });
});

describe('bad input gets a 4xx problem and writes nothing', () => {
  it('rejects malformed, mistyped, unknown, oversized and absurd input', async () => {
    const before = await count(writerToken);
    const cases: [string, RequestInit & { path?: string }, number, string | undefined][] = [
      ['malformed json', { method: 'POST', body: '{"name": ' }, 400, undefined],
      ['wrong type', { method: 'POST', body: JSON.stringify({ name: 123 }) }, 400, 'name'],
      ['missing name', { method: 'POST', body: JSON.stringify({ email: 'a@b.co' }) }, 400, 'name'],
      ['empty name', { method: 'POST', body: JSON.stringify({ name: '   ' }) }, 400, 'name'],
      ['bad email', { method: 'POST', body: JSON.stringify({ name: 'x', email: 'nope' }) }, 400, 'email'],
      ['unknown field', { method: 'POST', body: JSON.stringify({ name: 'x', admin: true }) }, 400, undefined],
      ['array body', { method: 'POST', body: '[]' }, 400, undefined],
      ['oversized', { method: 'POST', body: JSON.stringify({ name: 'x'.repeat(200_000) }) }, 413, undefined],
      [
        'wrong content type',
        { method: 'POST', body: 'name=x', headers: { 'content-type': 'text/plain' } },
        415,
        undefined,
      ],
    ];
    for (const [label, init, status, field] of cases) {
      const res = await api('/v1/people', writerToken, init);
      expect(res.status, label).toBe(status);
      expect(res.headers.get('content-type'), label).toContain('application/problem+json');
      const problem = (await res.json()) as {
        code: string;
        field?: string;
        status: number;
        title: string;
        detail: string;
      };
      expect(problem.status, label).toBe(status);
      if (field) expect(problem.field, label).toBe(field);
    }
    for (const [label, path, status] of [
      ['invalid id', '/v1/people/not-an-id', 400],
      ['absurd page size', '/v1/people?first=1000000', 400],
      ['negative page size', '/v1/people?first=-1', 400],
      ['non-numeric page size', '/v1/people?first=abc', 400],
      ['bad cursor', '/v1/people?after=zzz', 400],
      ['unknown query parameter', '/v1/people?sort=name', 400],
      ['unknown route', '/v1/nothing', 404],
    ] as const) {
      const res = await api(path, writerToken);
      expect(res.status, label).toBe(status);
      expect(res.headers.get('content-type'), label).toContain('application/problem+json');
    }
    const wrongMethod = await api('/v1/people', writerToken, { method: 'PUT', body: '{}' });
    expect(wrongMethod.status).toBe(405);
    expect(await count(writerToken)).toBe(before);
  });

  it('GraphQL variable errors are 4xx with a code, never 500', async () => {
    const res = await gql(
      writerToken,
      'mutation($i: CreatePersonInput!) { createPerson(input: $i) { id } }',
      { i: { name: 5 } },
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });
});

describe('listeners: public vs console, sidecar on loopback only', () => {
  it('refuses introspection and GraphiQL on the public listener, serves both on the console', async () => {
    const publicIntro = (await (await gql(writerToken, '{ __schema { types { name } } }')).json()) as {
      errors?: unknown[];
    };
    expect(publicIntro.errors?.length).toBeGreaterThan(0);
    const consoleIntro = (await (
      await gql(undefined, '{ __schema { queryType { name } } }', undefined, platform.consoleUrl)
    ).json()) as {
      data: { __schema: { queryType: { name: string } } };
    };
    expect(consoleIntro.data.__schema.queryType.name).toBe('Query');
    const consoleData = await gql(undefined, '{ people { nodes { id } } }', undefined, platform.consoleUrl);
    expect(consoleData.status).toBe(401);
    const html = await fetch(`${platform.consoleUrl}/graphql`, { headers: { accept: 'text/html' } });
    expect(await html.text()).toContain('GraphiQL');
    const publicHtml = await fetch(`${platform.gatewayUrl}/graphql`, { headers: { accept: 'text/html' } });
    expect(await publicHtml.text()).not.toContain('GraphiQL');
  });

  it('binds the sidecar to [::1] only', async () => {
    const listening = execFileSync('ss', ['-Hltn', `sport = :${platform.sidecarPort}`], { encoding: 'utf8' });
    const localAddresses = listening
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[3]);
    expect(localAddresses).toEqual([`[::1]:${platform.sidecarPort}`]);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal);
    if (external) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: external.address, port: platform.sidecarPort, timeout: 1000 });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
        socket.once('timeout', () => {
          socket.destroy();
          resolve(false);
        });
      });
      expect(reached).toBe(false);
    }
  });

  it('serves health, readiness and the generated OpenAPI document', async () => {
    expect((await fetch(`${platform.gatewayUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${platform.gatewayUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      checks: { gateway: true, sidecar: true, control_plane: true },
    });
    const openapi = await (await fetch(`${platform.gatewayUrl}/openapi.json`)).json();
    expect(openapi).toEqual(JSON.parse(readFileSync(join(ROOT, 'schema/openapi.json'), 'utf8')));
  });
});

describe('audit', () => {
  it('the chain verifies and holds the 401, 403 and 429 events', async () => {
    const res = await api('/v1/audit?verify_chain=true&first=500', writerToken);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      chain_valid: boolean;
      records_checked: number;
      records: { outcome: string; status: number }[];
    };
    expect(body.chain_valid).toBe(true);
    expect(body.records_checked).toBeGreaterThan(5);
    const outcomes = new Set(body.records.map((r) => r.outcome));
    expect(outcomes).toContain('allow');
    expect(outcomes).toContain('deny');
    const denied = body.records.find((r) => r.outcome === 'deny');
    expect(denied?.status).toBe(403);
    const sidecar = new SidecarClient({ address: platform.sidecarAddr });
    try {
      const tiny = await sidecar.queryAudit({ tenantId: 'tiny', pageSize: 100 });
      expect(tiny.records.some((r) => r.event?.outcome === 'rate_limited' && r.event.status === 429)).toBe(
        true,
      );
      const anonymous = await sidecar.queryAudit({ tenantId: '_platform', pageSize: 500 });
      expect(
        anonymous.records.some((r) => r.event?.outcome === 'unauthenticated' && r.event.status === 401),
      ).toBe(true);
      for (const tenant of ['acme', 'tiny', '_platform']) {
        expect((await sidecar.verifyChain(tenant)).valid, tenant).toBe(true);
      }
    } finally {
      sidecar.close();
    }
    const noScope = await api('/v1/audit', await getToken(platform, other));
    expect(noScope.status).toBe(403);
  });
});
