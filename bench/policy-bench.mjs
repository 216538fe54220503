// `npm run bench:policy`: latency of the default authorization policy
//  1. in-process: 10 000 evaluations on the Rego engine, one at a time;
//  2. through the sidecar's policy worker pool (same process, worker threads);
//  3. over gRPC against a real sidecar process, open loop at a fixed 500 and 2 000 requests/s:
//     Authorize (what each request makes; evaluated on the sidecar's event loop) and Evaluate
//     (caller-chosen input; evaluated in a worker).
// Each is printed next to a baseline measured in the same run: a constant rule (the cost of the
// machinery without the policy), and over gRPC also a no-op call (the hop with no work at all),
// so the ratios show what the policy itself adds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthServiceClient, HealthClient, PolicyServiceClient } from '@cpod/proto';
import { createLogger } from '@cpod/runtime';
import { credentials, status } from '@grpc/grpc-js';
import { freePort } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadRegoPolicyDir } = await import(join(root, 'sidecar/dist/policy/rego-policy-engine.js'));
const { PolicyPool } = await import(join(root, 'sidecar/dist/policy/policy-pool.js'));
const { readPolicySet } = await import(join(root, 'sidecar/dist/policy/policy-set.js'));

const EVALUATIONS = Number(process.env.BENCH_POLICY_EVALUATIONS ?? 10_000);
const SECONDS = Number(process.env.BENCH_POLICY_SECONDS ?? 5);
const policyDir = join(root, 'sidecar/policies');
const DECISION = 'data.cpod.authz.decision';
const BASELINE = 'data.cpod.authz.verbs';

// A realistic mix: allowed, wrong scope, unknown action, missing tenant.
const INPUTS = [
  {
    claims: { tenant_id: 'acme', scope: 'openid people:read people:write' },
    action: 'read',
    resource: 'people',
  },
  { claims: { tenant_id: 'acme', scope: 'people:read' }, action: 'delete', resource: 'people' },
  { claims: { tenant_id: 'acme', scope: 'audit:read' }, action: 'purge', resource: 'audit' },
  { claims: { scope: 'people:read' }, action: 'list', resource: 'people' },
];

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(latenciesMs) {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

function print(label, measured, baseline) {
  const ratio = baseline ? `  (×${(measured.p50 / baseline.p50).toFixed(1)} p50 of baseline)` : '';
  console.log(
    `  ${label.padEnd(34)} n=${String(measured.n).padStart(6)}  p50 ${fmt(measured.p50).padStart(9)}  p99 ${fmt(measured.p99).padStart(9)}${ratio}`,
  );
}

function inProcess(engine, path) {
  for (let i = 0; i < 2000; i++) engine.evaluate(path, INPUTS[i % INPUTS.length]);
  const latencies = [];
  for (let i = 0; i < EVALUATIONS; i++) {
    const input = INPUTS[i % INPUTS.length];
    const start = process.hrtime.bigint();
    engine.evaluate(path, input);
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summary(latencies);
}

async function throughPool(pool, path) {
  for (let i = 0; i < 1000; i++) await pool.evaluate(path, INPUTS[i % INPUTS.length]);
  const latencies = [];
  for (let i = 0; i < EVALUATIONS; i++) {
    const start = process.hrtime.bigint();
    await pool.evaluate(path, INPUTS[i % INPUTS.length]);
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summary(latencies);
}

async function startSidecar() {
  const dataDir = mkdtempSync(join(tmpdir(), 'cpod-bench-policy-'));
  const [grpcPort, metricsPort] = await Promise.all([freePort('::1'), freePort('127.0.0.1')]);
  const child = spawn(process.execPath, [join(root, 'sidecar/dist/bin.js')], {
    env: {
      PATH: process.env.PATH,
      CORESDK_SIDECAR_ADDR: `[::1]:${grpcPort}`,
      CORESDK_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      // PolicyService.Evaluate validates no token; the JWKS is never fetched in this run.
      CORESDK_JWKS_URI: 'http://127.0.0.1:9/jwks',
      CPOD_DATA_DIR: dataDir,
      CPOD_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      if (res.ok) break;
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('sidecar did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `[::1]:${grpcPort}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Open loop: requests are sent on a fixed schedule whether or not earlier ones have answered,
 * and latency counts from the scheduled send time, so a stall shows up instead of hiding.
 */
async function fixedRate(send, rate, seconds) {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  // Preallocated and callback-based: the load generator itself should cause as little GC as possible.
  const latencies = new Float64Array(total);
  let answered = 0;
  let failures = 0;
  let allDone;
  const done = new Promise((resolve) => {
    allDone = resolve;
  });
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    send(INPUTS[i % INPUTS.length], (err) => {
      if (err) failures++;
      latencies[i] = performance.now() - due;
      if (++answered === total) allDone();
    });
  }
  await done;
  const elapsed = (performance.now() - started) / 1000;
  return { ...summary(Array.from(latencies)), failures, achieved: total / elapsed };
}

console.log(`policy benchmark: default authorization policy (${policyDir})`);

const engine = loadRegoPolicyDir(policyDir);
const check = engine.evaluate(DECISION, INPUTS[0]);
if (check.value?.allow !== true) throw new Error(`unexpected decision ${JSON.stringify(check)}`);
console.log(`\n1. in-process, ${EVALUATIONS} sequential evaluations`);
const inBase = inProcess(engine, BASELINE);
const inDecision = inProcess(engine, DECISION);
print('baseline: constant rule', inBase);
print('cpod.authz.decision', inDecision, inBase);

console.log(`\n2. through the worker pool (2 workers), ${EVALUATIONS} sequential evaluations`);
const pool = await PolicyPool.start({
  set: readPolicySet(policyDir),
  size: 2,
  budgetMs: 100,
  logger: createLogger({ level: 'silent' }),
});
const poolBase = await throughPool(pool, BASELINE);
const poolDecision = await throughPool(pool, DECISION);
await pool.close();
print('baseline: constant rule', poolBase);
print('cpod.authz.decision', poolDecision, poolBase);

console.log(`\n3. over gRPC to a sidecar process, open loop, ${SECONDS} s per rate`);
const sidecar = await startSidecar();
const client = new PolicyServiceClient(sidecar.address, credentials.createInsecure());
const auth = new AuthServiceClient(sidecar.address, credentials.createInsecure());
const health = new HealthClient(sidecar.address, credentials.createInsecure());
// The floor: a gRPC call the same sidecar answers without doing any work, sent by the same load
// generator. A health Check for a service the sidecar does not have is answered NOT_FOUND at once
// (a known service would ping the stores first). Whatever tail it has is this machine and the hop.
const ping = (_input, callback) =>
  health.check({ service: 'bench.floor' }, (err) =>
    callback(err?.code === status.NOT_FOUND ? null : (err ?? new Error('expected NOT_FOUND'))),
  );
const evaluate = (path) => (input, callback) => client.evaluate({ path, input }, callback);
// What every gateway request makes: AuthService.Authorize evaluates cpod.authz.decision on the
// sidecar's main thread (trusted input); PolicyService.Evaluate takes caller-chosen input to a worker.
const authorize = (input, callback) =>
  auth.authorize({ claims: input.claims, action: input.action, resource: input.resource }, callback);
try {
  await fixedRate(authorize, 500, 1); // warm-up
  await fixedRate(evaluate(DECISION), 500, 1);
  for (const rate of [500, 2000]) {
    const floor = await fixedRate(ping, rate, SECONDS);
    const base = await fixedRate(evaluate(BASELINE), rate, SECONDS);
    const decision = await fixedRate(evaluate(DECISION), rate, SECONDS);
    const authz = await fixedRate(authorize, rate, SECONDS);
    print(`${rate} req/s floor: no-op gRPC`, floor);
    print(`${rate} req/s Evaluate: constant rule`, base);
    print(`${rate} req/s Evaluate: decision`, decision, base);
    print(`${rate} req/s Authorize (inline)`, authz, floor);
    const failures = floor.failures + decision.failures + base.failures + authz.failures;
    console.log(`  ${''.padEnd(34)} achieved ${authz.achieved.toFixed(0)} req/s, ${failures} failures`);
  }
} finally {
  client.close();
  auth.close();
  health.close();
  await sidecar.stop();
}
