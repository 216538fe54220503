// Part of `npm run bench`: what the sidecar hop costs per request. In one run on loopback,
// GET /v1/people/{id} through
//   - the same yoga server with the sidecar chain off (baseline),
//   - the full chain with the same token on every request (ValidateToken answers from its
//     cache: no signature check),
//   - the full chain with a fresh token on every request (a signature check each time),
// and the bare ValidateToken gRPC round trip, cached and uncached. Requests are sent one at
// a time by default (BENCH_HOP_CONCURRENCY) so latencies are per-request cost, not queueing.
// Anchor: Dapr documents 1.4 ms p90 / 2.1 ms p99 added per sidecar hop; ours must cost less.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthServiceClient } from '@cpod/proto';
import { credentials } from '@grpc/grpc-js';
import { importJWK, SignJWT } from 'jose';
import { freePort, json, startChild } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REQUESTS = Number(process.env.BENCH_HOP_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_HOP_CONCURRENCY ?? 1);
const ROUNDS = 10;
const DAPR = { p90: 1.4, p99: 2.1 };

function percentiles(latencies) {
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { p50: at(50), p90: at(90), p99: at(99) };
}

/** `total` calls of `one()` (resolving true on success), `concurrency` at a time, into `into`. */
async function measure(total, concurrency, one, into = { latencies: [], failures: 0 }) {
  let issued = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++;
        const start = process.hrtime.bigint();
        const ok = await one();
        into.latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (!ok) into.failures++;
      }
    }),
  );
  return into;
}

function httpGetter(url, headersFor) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const get = (i) =>
    new Promise((resolve) => {
      const req = request(url, { agent, headers: headersFor(i) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  return { get, close: () => agent.destroy() };
}

const dataDir = mkdtempSync(join(tmpdir(), 'cpod-hop-bench-'));
const [gw, consolePort, cp, sidecarPort, metrics] = await Promise.all([
  freePort(),
  freePort(),
  freePort(),
  freePort('::1'),
  freePort(),
]);
const admin = `bench-${randomBytes(24).toString('hex')}`;
const platform = await startChild(
  [join(root, 'scripts/start.mjs')],
  {
    CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
    CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
    CORESDK_CP_ADDR: `127.0.0.1:${cp}`,
    CORESDK_SIDECAR_ADDR: `[::1]:${sidecarPort}`,
    CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
    CPOD_DATA_DIR: dataDir,
    CPOD_ADMIN_TOKEN: admin,
    CPOD_LOG_LEVEL: 'warn',
  },
  'cpod is ready.',
);
const bare = await startChild([join(root, 'bench/bare-gateway.mjs')], {}, 'ready ');
const grpc = new AuthServiceClient(`[::1]:${sidecarPort}`, credentials.createInsecure());
try {
  const gatewayUrl = `http://127.0.0.1:${gw}`;
  const bareUrl = /ready (\S+)/.exec(bare.output())[1];
  const app = await json(`http://127.0.0.1:${cp}/v1/oauth/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'hop bench',
      tenant_id: 'bench',
      scopes: ['people:read', 'people:write'],
      rate_limit: { capacity: 1_000_000, refill_per_second: 1_000_000 },
    }),
  });
  const { access_token: token } = await json(`${gatewayUrl}/v1/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: app.client_id,
      client_secret: app.client_secret,
    }),
  });

  // Fresh tokens, as the control plane would issue them (same key, claims and lifetime; a new
  // jti each), signed here beforehand so that minting is not part of what is measured.
  const signing = JSON.parse(readFileSync(join(dataDir, 'control-plane/signing-key.json'), 'utf8'));
  const current = signing.keys.find((k) => k.role === 'current');
  const privateKey = await importJWK(current.privateJwk, current.privateJwk.alg ?? 'RS256');
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
  const fresh = await Promise.all(
    Array.from({ length: REQUESTS * 2 + 300 }, () =>
      new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader(header).sign(privateKey),
    ),
  );
  let nextFresh = 0;
  const freshToken = () => fresh[nextFresh++];

  const body = JSON.stringify({ name: 'Bench Person', email: 'bench@example.com' });
  const person = await json(`${gatewayUrl}/v1/people`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
  const barePerson = await json(`${bareUrl}/v1/people`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

  const validate = (t) =>
    new Promise((resolve) => grpc.validateToken({ token: t }, (err, res) => resolve(!err && res.valid)));
  const bareGet = httpGetter(`${bareUrl}/v1/people/${barePerson.id}`, () => ({}));
  const cachedGet = httpGetter(`${gatewayUrl}/v1/people/${person.id}`, () => ({
    authorization: `Bearer ${token}`,
  }));
  const freshGet = httpGetter(`${gatewayUrl}/v1/people/${person.id}`, () => ({
    authorization: `Bearer ${freshToken()}`,
  }));
  const scenarios = [
    ['bare yoga (chain off)', bareGet.get],
    ['full chain, cached token', cachedGet.get],
    ['full chain, fresh token', freshGet.get],
    ['ValidateToken gRPC, cached', () => validate(token)],
    ['ValidateToken gRPC, fresh', () => validate(freshToken())],
  ];
  for (const [, one] of scenarios) await measure(100, CONCURRENCY, one); // warm-up (JIT, connections)
  // Interleaved rounds, so a change in machine load during the run hits every path alike.
  const samples = Object.fromEntries(scenarios.map(([name]) => [name, { latencies: [], failures: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, one] of scenarios) await measure(REQUESTS / ROUNDS, CONCURRENCY, one, samples[name]);
  }
  const results = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => [name, { ...percentiles(s.latencies), failures: s.failures }]),
  );
  for (const g of [bareGet, cachedGet, freshGet]) g.close();

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nsidecar hop: ${REQUESTS} requests each, concurrency ${CONCURRENCY}, loopback, ${cpus().length} × ${cpu}, Node ${process.version}`,
  );
  console.log('| path | p50 ms | p90 ms | p99 ms | failures |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `| ${name} | ${r.p50.toFixed(3)} | ${r.p90.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.failures} |`,
    );
  }
  const b = results['bare yoga (chain off)'];
  const overhead = (r) => ({ p50: r.p50 - b.p50, p90: r.p90 - b.p90, p99: r.p99 - b.p99 });
  const cached = overhead(results['full chain, cached token']);
  const uncached = overhead(results['full chain, fresh token']);
  const fmt = (o) => `p50 ${o.p50.toFixed(3)} / p90 ${o.p90.toFixed(3)} / p99 ${o.p99.toFixed(3)} ms`;
  console.log(`gateway overhead per request (chain − bare), cached token:   ${fmt(cached)}`);
  console.log(`gateway overhead per request (chain − bare), uncached token: ${fmt(uncached)}`);
  console.log(
    `uncached/cached overhead ratio: p50 ${(uncached.p50 / cached.p50).toFixed(2)}, p90 ${(uncached.p90 / cached.p90).toFixed(2)}, p99 ${(uncached.p99 / cached.p99).toFixed(2)}`,
  );
  const within = cached.p90 < DAPR.p90 && cached.p99 < DAPR.p99;
  console.log(
    `Dapr anchor ${DAPR.p90} ms p90 / ${DAPR.p99} ms p99 per sidecar hop: cached-token hop ${within ? 'is below it' : 'is NOT below it'} (p90 ${cached.p90.toFixed(3)}, p99 ${cached.p99.toFixed(3)} ms)`,
  );
  // Where the chain's time goes: mean sidecar handler time per RPC over the whole run.
  const metricsText = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  const perMethod = {};
  for (const m of metricsText.matchAll(
    /^cpod_sidecar_rpc_duration_seconds_(sum|count)\{method="(\w+)"[^}]*\} (\S+)$/gm,
  )) {
    // Summed over any further labels (an outcome label, say).
    perMethod[m[2]] ??= { sum: 0, count: 0 };
    perMethod[m[2]][m[1]] += Number(m[3]);
  }
  const means = Object.entries(perMethod)
    .filter(([, v]) => v.count > 0)
    .map(([method, v]) => `${method} ${((v.sum / v.count) * 1000).toFixed(3)}`);
  console.log(`mean sidecar handler time per call, ms: ${means.join(', ')}`);
  if (Object.values(results).some((r) => r.failures > 0)) process.exitCode = 1;
} finally {
  grpc.close();
  bare.child.kill('SIGTERM');
  platform.child.kill('SIGTERM');
  await Promise.all(
    [platform.child, bare.child].map(
      (c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r))),
    ),
  );
  rmSync(dataDir, { recursive: true, force: true });
}
