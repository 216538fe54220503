import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyServiceClient, type PolicyUpdate } from '@cpod/proto';
import { CpodClient, CpodError, EvaluatePolicyDocument } from '@cpod/sdk';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppCredentials,
  createApp,
  getToken,
  type Platform,
  ROOT,
  startPlatform,
} from './helpers/platform.js';

const EXTRA = (greeting: string) => `package cpod.extra
import rego.v1

greeting := "${greeting}"

decision := {"allow": input.level >= 3, "reason": sprintf("level %v", [input.level])}

# Ten thousand squared iterations: far past any budget.
spin if {
  some i in numbers.range(1, 10000)
  some j in numbers.range(1, 10000)
  i + j < 0
}
`;

let platform: Platform;
let policyDir: string;
let evaluator: AppCredentials;
let token: string;
let readerToken: string;
let sidecar: PolicyServiceClient;

beforeAll(async () => {
  policyDir = mkdtempSync(join(tmpdir(), 'cpod-policies-'));
  copyFileSync(join(ROOT, 'sidecar/policies/authz.rego'), join(policyDir, 'authz.rego'));
  writeFileSync(join(policyDir, 'extra.rego'), EXTRA('hello'));
  platform = await startPlatform({ CORESDK_POLICY_DIR: policyDir, CORESDK_POLICY_BUDGET_MS: '200' });
  const reader = await createApp(platform, { tenant_id: 'acme', scopes: ['people:read'] });
  evaluator = await createApp(platform, { tenant_id: 'acme', scopes: ['policy:evaluate', 'people:read'] });
  [token, readerToken] = await Promise.all([getToken(platform, evaluator), getToken(platform, reader)]);
  sidecar = new PolicyServiceClient(platform.sidecarAddr, credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  sidecar?.close();
  await platform?.stop();
  rmSync(policyDir, { recursive: true, force: true });
});

const evaluate = (body: unknown, bearer = token) =>
  fetch(`${platform.gatewayUrl}/v1/policy/evaluate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Resolves with the next PolicyUpdate on a fresh WatchPolicyUpdates stream (or undefined after `ms`). */
function nextUpdate(ms: number): { opened: Promise<void>; update: Promise<PolicyUpdate | undefined> } {
  const call = sidecar.watchPolicyUpdates({});
  let opened!: () => void;
  const openedPromise = new Promise<void>((resolve) => {
    opened = resolve;
  });
  // The sidecar sends headers as soon as the subscription is registered.
  call.on('metadata', () => opened());
  const update = new Promise<PolicyUpdate | undefined>((resolve) => {
    const timer = setTimeout(() => {
      call.cancel();
      resolve(undefined);
    }, ms);
    call.on('data', (message: PolicyUpdate) => {
      clearTimeout(timer);
      call.cancel();
      resolve(message);
    });
    call.on('error', () => undefined);
  });
  return { opened: openedPromise, update };
}

describe('POST /v1/policy/evaluate', () => {
  it('evaluates a loaded rule and reports allowed, result and reason', async () => {
    const res = await evaluate({ path: 'cpod/extra/decision', input: { level: 5 } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      defined: true,
      allowed: true,
      result: { allow: true, reason: 'level 5' },
      reason: 'level 5',
    });
    const denied = await evaluate({ path: 'data.cpod.extra.decision', input: { level: 1 } });
    expect(await denied.json()).toMatchObject({ allowed: false, reason: 'level 1' });
  });

  it('tells an undefined rule from a false one', async () => {
    const res = await evaluate({ path: 'cpod.extra.nothing_here', input: {} });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ defined: false, allowed: false, result: null, reason: 'undefined' });
  });

  it('needs scope policy:evaluate (403 with nothing evaluated)', async () => {
    const res = await evaluate({ path: 'cpod/extra/greeting', input: {} }, readerToken);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ code: 'ERR_POLICY_DENIED' });
  });

  it('rejects bad input with problem+json naming the field', async () => {
    const noPath = await evaluate({ input: {} });
    expect(noPath.status).toBe(400);
    expect(await noPath.json()).toMatchObject({ code: 'ERR_VALIDATION_FAILED', field: 'path' });
    const badPath = await evaluate({ path: '../../etc/passwd', input: {} });
    expect(badPath.status).toBe(400);
    expect(await badPath.json()).toMatchObject({ code: 'ERR_VALIDATION_FAILED', field: 'path' });
    const notObject = await evaluate(['cpod/extra/greeting']);
    expect(notObject.status).toBe(400);
  });

  it('ends a runaway policy with 504 ERR_POLICY_TIMEOUT and keeps serving', async () => {
    const started = Date.now();
    const res = await evaluate({ path: 'cpod/extra/spin', input: {} });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'ERR_POLICY_TIMEOUT', status: 504 });
    expect(Date.now() - started).toBeLessThan(5000);
    const after = await evaluate({ path: 'cpod/extra/greeting', input: {} });
    expect(await after.json()).toMatchObject({ result: 'hello' });
  });

  it('is the same field over GraphQL', async () => {
    const res = await fetch(`${platform.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          'query($input: EvaluatePolicyInput!) { evaluatePolicy(input: $input) { defined allowed result reason } }',
        variables: { input: { path: 'cpod/extra/decision', input: { level: 4 } } },
      }),
    });
    expect(await res.json()).toEqual({
      data: {
        evaluatePolicy: {
          defined: true,
          allowed: true,
          result: { allow: true, reason: 'level 4' },
          reason: 'level 4',
        },
      },
    });
  });

  it('is evaluatePolicy in the SDK, with the typed document too', async () => {
    const client = new CpodClient({
      baseUrl: platform.gatewayUrl,
      clientId: evaluator.client_id,
      clientSecret: evaluator.client_secret,
    });
    const decision = await client.evaluatePolicy('cpod/authz/decision', {
      claims: { tenant_id: 'acme', scope: 'people:read' },
      action: 'read',
      resource: 'people',
    });
    expect(decision).toMatchObject({ allowed: true, result: { allow: true, reason: 'allowed' } });
    const typed = await client.graphql.execute(EvaluatePolicyDocument, {
      input: { path: 'cpod/extra/greeting', input: null },
    });
    expect(typed.evaluatePolicy.result).toBe('hello');
    const err = await client.evaluatePolicy('cpod/extra/spin', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpodError);
    expect((err as CpodError).code).toBe('ERR_POLICY_TIMEOUT');
  });
});

describe('policy hot reload', () => {
  it('streams one update per successful reload; a broken edit keeps the running policy', async () => {
    const good = nextUpdate(10_000);
    await good.opened;
    writeFileSync(join(policyDir, 'extra.rego'), EXTRA('bonjour'));
    const update = await good.update;
    expect(update?.modules).toEqual(['authz.rego', 'extra.rego']);
    expect(update?.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(Number.isNaN(Date.parse(update?.loadedAt ?? ''))).toBe(false);
    expect(await (await evaluate({ path: 'cpod/extra/greeting', input: {} })).json()).toMatchObject({
      result: 'bonjour',
    });

    const broken = nextUpdate(1500);
    await broken.opened;
    writeFileSync(join(policyDir, 'extra.rego'), 'package cpod.extra\ngreeting := \n');
    expect(await broken.update).toBeUndefined();
    expect(await (await evaluate({ path: 'cpod/extra/greeting', input: {} })).json()).toMatchObject({
      result: 'bonjour',
    });
    const ready = (await (await fetch(`${platform.metricsUrl}/readyz`)).json()) as {
      policy: { revision: string; last_reload_error?: string };
    };
    expect(ready.policy.revision).toBe(update?.revision);
    expect(ready.policy.last_reload_error).toMatch(/extra\.rego:\d+:\d+/);

    // The request path still authorizes with the running policy.
    const people = await fetch(`${platform.gatewayUrl}/v1/people`, {
      headers: { authorization: `Bearer ${readerToken}` },
    });
    expect(people.status).toBe(200);
  });

  it('DryRun compiles sources without installing them and reports file:line:col', async () => {
    const dryRun = (modules: Array<{ path: string; source: string }>) =>
      new Promise<{
        defined: boolean;
        result?: unknown;
        errors: Array<{ location: string; message: string }>;
      }>((resolve, reject) =>
        sidecar.dryRun({ modules, path: 'cpod/extra/greeting', input: {} }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );
    const ok = await dryRun([{ path: 'draft.rego', source: EXTRA('draft') }]);
    expect(ok).toMatchObject({ defined: true, result: 'draft', errors: [] });
    const bad = await dryRun([{ path: 'draft.rego', source: 'package cpod.extra\ngreeting := x\n' }]);
    expect(bad.errors[0]?.location).toMatch(/^draft\.rego:2:\d+$/);
    expect(await (await evaluate({ path: 'cpod/extra/greeting', input: {} })).json()).toMatchObject({
      result: 'bonjour',
    });
  });
});

describe('sidecar /metrics after this traffic', () => {
  it('counts RPCs by method and outcome, token cache hits, policy reloads and queue depth', async () => {
    const res = await fetch(`${platform.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('cpod_sidecar_rpc_total{method="Evaluate",outcome="ok"}')).toBeGreaterThan(3);
    expect(
      value('cpod_sidecar_rpc_total{method="Evaluate",outcome="deadline_exceeded"}'),
    ).toBeGreaterThanOrEqual(2);
    // Each gateway request is one Check (token, policy, rate limit).
    expect(value('cpod_sidecar_rpc_total{method="Check",outcome="ok"}')).toBeGreaterThan(3);
    expect(value('cpod_sidecar_rpc_duration_seconds_count{method="Check",outcome="ok"}')).toBeGreaterThan(3);
    // The same bearer token was used many times: only the first needed a signature check.
    expect(value('cpod_sidecar_token_cache_hits_total')).toBeGreaterThan(3);
    expect(value('cpod_sidecar_policy_reloads_total{result="success"}')).toBeGreaterThanOrEqual(1);
    expect(value('cpod_sidecar_policy_reloads_total{result="failure"}')).toBeGreaterThanOrEqual(1);
    expect(value('cpod_sidecar_audit_appends_total')).toBeGreaterThan(3);
    expect(value('cpod_sidecar_policy_queue_depth')).toBe(0);
  });
});
