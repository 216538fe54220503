// AuthService.Check, the one sidecar round trip per API request (issue 5's hop cost): its
// answers over real gRPC, and the gateway using it — once per request, token first.
import { AuthServiceClient, type CheckRequest, type CheckResponse } from '@cpod/proto';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, getToken, type Platform, startPlatform } from './helpers/platform.js';

/** Sum of `name{...labels...} value` lines whose labels contain `labels`. */
function total(text: string, name: string, labels: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('AuthService.Check', () => {
  let platform: Platform;
  let auth: AuthServiceClient;
  let token: string;
  const check = (request: Partial<CheckRequest>) =>
    new Promise<CheckResponse>((resolve, reject) =>
      auth.check(
        { token, checks: [], rateLimitCost: 0, ...request },
        (err: ServiceError | null, res: CheckResponse) => (err ? reject(err) : resolve(res)),
      ),
    );
  const rpcCounts = async () => {
    const text = await (await fetch(`${platform.metricsUrl}/metrics`)).text();
    const count = (method: string) => total(text, 'cpod_sidecar_rpc_total', `method="${method}"`);
    return {
      Check: count('Check'),
      ValidateToken: count('ValidateToken'),
      Authorize: count('Authorize'),
      CheckRateLimit: count('CheckRateLimit'),
    };
  };

  beforeAll(async () => {
    platform = await startPlatform();
    auth = new AuthServiceClient(platform.sidecarAddr, credentials.createInsecure());
    const app = await createApp(platform, {
      tenant_id: 'acme',
      scopes: ['people:read'],
      rate_limit: { capacity: 50, refill_per_second: 0.01 },
    });
    token = await getToken(platform, app);
  }, 120_000);
  afterAll(async () => {
    auth?.close();
    await platform?.stop();
  });

  it('validates, authorizes and charges the bucket of the token in one call, with the app limit from the token', async () => {
    const first = await check({ checks: [{ action: 'read', resource: 'people' }], rateLimitCost: 1 });
    expect(first.token).toMatchObject({ valid: true, principal: { tenantId: 'acme' } });
    expect(first.decision).toMatchObject({ allowed: true, policyPath: 'data.cpod.authz.decision' });
    expect(first.rateLimit).toMatchObject({ allowed: true, limit: 50 });
    const before = first.rateLimit!.remaining;

    // A denial names the check it denied and spends nothing.
    const denied = await check({
      checks: [
        { action: 'read', resource: 'people' },
        { action: 'create', resource: 'people' },
      ],
      rateLimitCost: 1,
    });
    expect(denied.token?.valid).toBe(true);
    expect(denied.decision?.allowed).toBe(false);
    expect(denied.decision?.reason).toContain('people:write');
    expect(denied.deniedCheck).toEqual({ action: 'create', resource: 'people' });
    expect(denied.rateLimit).toBeUndefined();

    // Cost 0 checks without charging; the next charge shows nothing was spent in between.
    expect((await check({ checks: [{ action: 'read', resource: 'people' }] })).rateLimit).toBeUndefined();
    const next = await check({ rateLimitCost: 1 });
    expect(next.decision).toBeUndefined();
    expect(next.rateLimit?.remaining).toBe(before - 1);
  });

  it('stops at a bad token: no decision, no charge', async () => {
    const [, payload = '', signature = ''] = token.split('.');
    const forged = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.${signature}`;
    const answer = await check({
      token: forged,
      checks: [{ action: 'read', resource: 'people' }],
      rateLimitCost: 1,
    });
    expect(answer.token?.valid).toBe(false);
    expect(answer.token?.reason).not.toBe('');
    expect(answer.decision).toBeUndefined();
    expect(answer.rateLimit).toBeUndefined();
  });

  it('is the only sidecar call a gateway request makes, REST and GraphQL alike', async () => {
    const before = await rpcCounts();
    const rest = await fetch(`${platform.gatewayUrl}/v1/people`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(rest.status).toBe(200);
    expect(rest.headers.get('ratelimit-limit')).toBe('50');
    const graphql = await fetch(`${platform.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ people(first: 1) { edges { node { id } } } }' }),
    });
    expect(graphql.status).toBe(200);
    const denied = await fetch(`${platform.gatewayUrl}/v1/people`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    expect(denied.status).toBe(403);
    const after = await rpcCounts();
    expect(after.Check - before.Check).toBe(3);
    expect(after.ValidateToken - before.ValidateToken).toBe(0);
    expect(after.Authorize - before.Authorize).toBe(0);
    expect(after.CheckRateLimit - before.CheckRateLimit).toBe(0);
  });

  it('answers a bad token with 401 before GraphQL reveals anything about the document', async () => {
    const post = (bearer: string, query: string) =>
      fetch(`${platform.gatewayUrl}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
    for (const query of ['{ people(first: 1) {', '{ peopel { id } }']) {
      const res = await post('not.a.token', query);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const body = await res.text();
      expect(body).not.toMatch(/Syntax Error|Did you mean|Cannot query field/);
    }
    // With a good token the same documents get GraphQL's own errors.
    const syntax = await post(token, '{ people(first: 1) {');
    expect(syntax.status).not.toBe(401);
    expect(await syntax.text()).toContain('Syntax Error');
  });
});
