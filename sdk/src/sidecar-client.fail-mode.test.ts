import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import type { Interceptor } from '@grpc/grpc-js';
import { InterceptingCall } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SidecarClient, SidecarError } from './sidecar-client.js';

/**
 * The client's fail modes against real sockets: a port nobody listens on (sidecar dead), a TCP
 * server that accepts and never answers (sidecar hung), and a real JWKS over HTTP.
 */
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'cpod-api';

let jwks: HttpServer;
let jwksUri: string;
let hung: TcpServer;
let hungAddress: string;
const hungSockets = new Set<Socket>();
let deadAddress: string;
let sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>;
let impostorSign: (claims: Record<string, unknown>) => Promise<string>;

const listen = (server: HttpServer | TcpServer) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const impostor = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  jwksUri = `http://127.0.0.1:${await listen(jwks)}/jwks`;
  const base = () => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'app1',
      client_id: 'app1',
      tenant_id: 'acme',
      jti: 'j1',
      iat: now,
      exp: now + 600,
    };
  };
  sign = (claims, header = {}) =>
    new SignJWT({ ...base(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt', ...header })
      .sign(privateKey);
  impostorSign = (claims) =>
    new SignJWT({ ...base(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .sign(impostor.privateKey);
  hung = createTcpServer((socket) => hungSockets.add(socket)); // accepts, never speaks HTTP/2
  hungAddress = `127.0.0.1:${await listen(hung)}`;
  const probe = createTcpServer();
  deadAddress = `127.0.0.1:${await listen(probe)}`;
  await new Promise((r) => probe.close(r));
});

afterAll(async () => {
  jwks?.closeAllConnections();
  for (const socket of hungSockets) socket.destroy();
  await new Promise((r) => jwks?.close(r));
  await new Promise((r) => hung?.close(r));
});

const open = (address: string, extra: Partial<ConstructorParameters<typeof SidecarClient>[0]> = {}) =>
  new SidecarClient({
    address,
    timeoutMs: 300,
    failMode: 'open',
    localVerification: { jwksUri, issuer: ISSUER, audience: AUDIENCE },
    defaultRateLimit: { capacity: 2, refillPerSecond: 0.01 },
    ...extra,
  });

describe('failMode closed (default)', () => {
  it('rejects with an unreachable SidecarError quickly when nothing listens', async () => {
    const client = new SidecarClient({ address: deadAddress, timeoutMs: 1000 });
    const started = performance.now();
    const err = await client.validateToken(await sign({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SidecarError);
    expect((err as SidecarError).unreachable).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
    client.close();
  });

  it('gives up at the deadline on a hung sidecar and bounds the calls waiting for it', async () => {
    const client = new SidecarClient({ address: hungAddress, timeoutMs: 400, maxInFlight: 2 });
    const token = await sign({});
    const started = performance.now();
    const calls = [1, 2, 3].map(() =>
      client.validateToken(token).then(
        () => undefined,
        (e: unknown) => e as SidecarError,
      ),
    );
    const third = await calls[2];
    // Over the bound: refused at once, not queued.
    expect(performance.now() - started).toBeLessThan(100);
    expect(third?.message).toBe('too many sidecar calls in flight');
    const [first] = await Promise.all(calls);
    expect(first?.unreachable).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    client.close();
  });
});

describe('failMode open', () => {
  it('verifies tokens locally against the cached JWKS and marks the answer failOpen', async () => {
    const changes: boolean[] = [];
    const client = open(deadAddress, { onFailOpenChange: (failing) => changes.push(failing) });
    const ok = await client.validateToken(await sign({ scope: 'people:read' }));
    expect(ok).toMatchObject({
      valid: true,
      failOpen: true,
      principal: { tenantId: 'acme', clientId: 'app1' },
    });
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Promise<string>]> = [
      ['bad_signature', impostorSign({})],
      ['expired', sign({ iat: now - 7200, exp: now - 3600 })],
      ['wrong_audience', sign({ aud: 'other' })],
      ['wrong_issuer', sign({ iss: 'https://evil.test' })],
      ['wrong_type', sign({}, { typ: 'JWT' })],
      ['lifetime_too_long', sign({ exp: now + 7200 })],
      ['missing_tenant', sign({ tenant_id: '' })],
    ];
    for (const [reason, token] of cases) {
      expect(await client.validateToken(await token), reason).toMatchObject({
        valid: false,
        reason,
        failOpen: true,
      });
    }
    expect(await client.validateToken('not.a.jwt')).toMatchObject({ valid: false, reason: 'malformed' });
    expect(changes).toEqual([true]); // once per outage
    client.close();
  });

  it('applies the default scope rule and an in-process bucket', async () => {
    const client = open(deadAddress);
    const claims = { tenant_id: 'acme', scope: 'people:read' };
    expect(
      await client.authorize({ claims, action: 'list', resource: 'people', context: undefined }),
    ).toMatchObject({
      allowed: true,
      failOpen: true,
    });
    expect(
      await client.authorize({ claims, action: 'create', resource: 'people', context: undefined }),
    ).toMatchObject({
      allowed: false,
      reason: 'scope "people:write" required',
    });
    const bucket = { tenantId: 'acme', clientId: 'app1', key: '' };
    const takes = [];
    for (let i = 0; i < 3; i++)
      takes.push(await client.checkRateLimit({ bucket, cost: 1, limit: undefined }));
    expect(takes.map((t) => [t.allowed, t.remaining, t.failOpen])).toEqual([
      [true, 1, true],
      [true, 0, true],
      [false, 0, true],
    ]);
    expect(takes[2]?.retryAfterMs).toBeGreaterThan(0);
    client.close();
  });

  it("answers check in-process in the sidecar's order: token, scope rule, then the app's bucket", async () => {
    const client = open(deadAddress);
    const token = await sign({ scope: 'people:read', rate_limit: { capacity: 2, refill_per_second: 0.001 } });
    const read = { action: 'read', resource: 'people' };
    const allowed = await client.check({ token, checks: [read], rateLimitCost: 1 });
    expect(allowed).toMatchObject({
      failOpen: true,
      token: { valid: true, principal: { tenantId: 'acme', clientId: 'app1' } },
      decision: { allowed: true, policyPath: 'local:default-scopes' },
      rateLimit: { allowed: true, limit: 2, remaining: 1 },
    });
    const denied = await client.check({
      token,
      checks: [read, { action: 'create', resource: 'people' }],
      rateLimitCost: 1,
    });
    expect(denied.decision).toMatchObject({ allowed: false, reason: 'scope "people:write" required' });
    expect(denied.deniedCheck).toEqual({ action: 'create', resource: 'people' });
    expect(denied.rateLimit).toBeUndefined();
    // The denial spent nothing: one token is left, then the bucket is empty.
    const takes = [];
    for (let i = 0; i < 2; i++)
      takes.push((await client.check({ token, checks: [read], rateLimitCost: 1 })).rateLimit);
    expect(takes.map((t) => [t?.allowed, t?.remaining])).toEqual([
      [true, 0],
      [false, 0],
    ]);
    const forged = await client.check({ token: await impostorSign({}), checks: [read], rateLimitCost: 1 });
    expect(forged).toMatchObject({ failOpen: true, token: { valid: false, reason: 'bad_signature' } });
    expect(forged.decision).toBeUndefined();
    client.close();
  });

  it('does not fail open on calls that reached a sidecar, nor on audit calls', async () => {
    const client = open(deadAddress);
    // Audit cannot be answered locally: the caller's queue keeps the event instead.
    await expect(client.verifyChain('acme')).rejects.toBeInstanceOf(SidecarError);
    client.close();
  });

  it('refuses to be built without what the local check needs', () => {
    expect(() => new SidecarClient({ address: deadAddress, failMode: 'open' })).toThrow(/localVerification/);
  });
});

describe('interceptors', () => {
  it('run on every service call', async () => {
    const seen: string[] = [];
    const interceptor: Interceptor = (options, next) => {
      seen.push(options.method_definition.path);
      return new InterceptingCall(next(options));
    };
    const client = new SidecarClient({ address: deadAddress, timeoutMs: 300, interceptors: [interceptor] });
    await client.validateToken('x').catch(() => {});
    await client.checkRateLimit({ bucket: undefined, cost: 1, limit: undefined }).catch(() => {});
    await client.verifyChain('acme').catch(() => {});
    expect(seen).toEqual([
      '/coresdk.v1.AuthService/ValidateToken',
      '/coresdk.v1.RateLimitService/CheckRateLimit',
      '/coresdk.v1.AuditService/VerifyChain',
    ]);
    client.close();
  });
});
