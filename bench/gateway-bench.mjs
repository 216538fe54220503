// `npm run bench`: requests/s and p50/p99 of GET /v1/people/{id} through the full chain
// (gateway -> sidecar: validate, authorize, rate limit, audit) and through the same yoga
// server with the chain switched off, measured in one run on loopback, printed as a ratio.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, json, startChild } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

/** Runs `total` GETs with `concurrency` keep-alive connections; returns latencies in ms and elapsed seconds. */
async function load(url, headers, total, concurrency) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  let issued = 0;
  let failures = 0;
  const one = () =>
    new Promise((resolve) => {
      const start = process.hrtime.bigint();
      const req = request(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) failures++;
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end();
    });
  const began = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++;
        await one();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { rps: latencies.length / seconds, p50: pct(50), p99: pct(99), failures };
}

const dataDir = mkdtempSync(join(tmpdir(), 'cpod-bench-'));
const [gw, consolePort, cp, sidecar, metrics] = await Promise.all([
  freePort(),
  freePort(),
  freePort(),
  freePort('::1'),
  freePort(),
]);
const admin = `bench-${randomBytes(24).toString('hex')}`;
const platformEnv = {
  CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
  CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
  CORESDK_CP_ADDR: `127.0.0.1:${cp}`,
  CORESDK_SIDECAR_ADDR: `[::1]:${sidecar}`,
  CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
  CPOD_DATA_DIR: dataDir,
  CPOD_ADMIN_TOKEN: admin,
  CPOD_LOG_LEVEL: 'warn',
};
const platform = await startChild([join(root, 'scripts/start.mjs')], platformEnv, 'cpod is ready.');
const bare = await startChild([join(root, 'bench/bare-gateway.mjs')], {}, 'ready ');
try {
  const gatewayUrl = `http://127.0.0.1:${gw}`;
  const bareUrl = /ready (\S+)/.exec(bare.output())[1];
  const app = await json(`http://127.0.0.1:${cp}/v1/oauth/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'bench',
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
  const auth = { authorization: `Bearer ${token}` };
  const body = JSON.stringify({ name: 'Bench Person', email: 'bench@example.com' });
  const person = await json(`${gatewayUrl}/v1/people`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body,
  });
  const barePerson = await json(`${bareUrl}/v1/people`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

  const targets = [
    ['bare yoga (chain off)', `${bareUrl}/v1/people/${barePerson.id}`, {}],
    ['full chain', `${gatewayUrl}/v1/people/${person.id}`, auth],
  ];
  for (const [, url, headers] of targets) await load(url, headers, 500, CONCURRENCY); // warm-up
  const results = {};
  for (const [name, url, headers] of targets) results[name] = await load(url, headers, REQUESTS, CONCURRENCY);

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `GET /v1/people/{id}: ${REQUESTS} requests, concurrency ${CONCURRENCY}, loopback, ${cpus().length} × ${cpu}, Node ${process.version}`,
  );
  console.log('| server | requests/s | p50 ms | p99 ms | failures |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failures} |`,
    );
  }
  const bareR = results['bare yoga (chain off)'];
  const chainR = results['full chain'];
  console.log(
    `throughput ratio chain/bare: ${(chainR.rps / bareR.rps).toFixed(2)}; p50 ratio: ${(chainR.p50 / bareR.p50).toFixed(2)}`,
  );
  if (chainR.failures || bareR.failures) process.exitCode = 1;
} finally {
  bare.child.kill('SIGTERM');
  platform.child.kill('SIGTERM');
  await Promise.all(
    [platform.child, bare.child].map(
      (c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r))),
    ),
  );
  rmSync(dataDir, { recursive: true, force: true });
}
