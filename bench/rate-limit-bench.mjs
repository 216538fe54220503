// `npm run build && node bench/rate-limit-bench.mjs`: what rate limiting costs, in one run.
//   1. token-bucket checks/s straight against Redis (the Lua script, one round trip each);
//   2. the same checks/s through the sidecar's CheckRateLimit over gRPC;
//   3. gateway throughput of GET /v1/people/{id} with the whole chain, without the rate-limit
//      step, and without rate limit and audit (switched off in code: GatewayDeps.benchmarkWithout),
//      all three gateways talking to the same sidecar; printed as ratios (Kong's anchor: −12 %
//      for rate limiting).
// Needs Redis (CPOD_REDIS_URL, default redis://127.0.0.1:6379); the platform's sidecar uses it.
// Run as `node bench/rate-limit-bench.mjs --gateway <on|no-rate-limit|off> <sidecar> <controlPlane>`
// it is one of the gateways (a child process, so the load generator does not share its event loop).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, json, startChild } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REDIS_URL = process.env.CPOD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHECKS = Number(process.env.BENCH_CHECKS ?? 20_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

if (process.argv[2] === '--gateway') await serveGateway(process.argv[3], process.argv[4], process.argv[5]);
else await main();

async function serveGateway(variant, sidecarAddress, controlPlaneUrl) {
  const { createGateway } = await import('@cpod/gateway');
  const { createLogger, openPgliteDocuments, startHttpServer } = await import('@cpod/runtime');
  const { SidecarClient } = await import('@cpod/sdk');
  const logger = createLogger({ level: 'warn' });
  const store = await openPgliteDocuments();
  const sidecar = new SidecarClient({ address: sidecarAddress });
  const gateway = createGateway({
    store,
    sidecar,
    logger,
    controlPlaneUrl,
    maxBodyBytes: 65_536,
    readiness: async () => ({ gateway: true }),
    ...(variant === 'on' ? {} : { benchmarkWithout: { rateLimit: true, audit: variant === 'off' } }),
  });
  const http = await startHttpServer({
    addr: { host: '127.0.0.1', port: 0 },
    fetch: (r) => gateway.fetch(r),
    logger,
  });
  process.stdout.write(`ready ${http.url}\n`);
  process.on('SIGTERM', async () => {
    await http.close();
    sidecar.close();
    await store.close();
    process.exit(0);
  });
}

/** Calls `op` `total` times, `concurrency` at a time; returns calls per second. */
async function rate(total, concurrency, op) {
  let issued = 0;
  const began = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++;
        await op();
      }
    }),
  );
  return total / (Number(process.hrtime.bigint() - began) / 1e9);
}

/** `total` keep-alive GETs; requests/s, p50/p99 in ms and non-200 answers. */
async function load(url, headers, total, concurrency) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
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
  const rps = await rate(total, concurrency, one);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { rps, p50: pct(50), p99: pct(99), failures };
}

async function main() {
  const { openRedisKeyValue } = await import('@cpod/runtime');
  const { SidecarClient } = await import('@cpod/sdk');
  const run = randomBytes(4).toString('hex');
  const dataDir = mkdtempSync(join(tmpdir(), 'cpod-rl-bench-'));
  const [gw, consolePort, cp, sidecarPort, metrics] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort('::1'),
    freePort(),
  ]);
  const admin = `bench-${randomBytes(24).toString('hex')}`;
  const sidecarAddress = `[::1]:${sidecarPort}`;
  const controlPlaneUrl = `http://127.0.0.1:${cp}`;
  const platform = await startChild(
    [join(root, 'scripts/start.mjs')],
    {
      CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
      CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
      CORESDK_CP_ADDR: `127.0.0.1:${cp}`,
      CORESDK_SIDECAR_ADDR: sidecarAddress,
      CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
      CPOD_DATA_DIR: dataDir,
      CPOD_ADMIN_TOKEN: admin,
      CPOD_REDIS_URL: REDIS_URL,
      CPOD_LOG_LEVEL: 'warn',
    },
    'cpod is ready.',
  );
  const children = [platform];
  const kv = await openRedisKeyValue({ url: REDIS_URL, prefix: `cpod_bench_${run}:` });
  const sidecar = new SidecarClient({ address: sidecarAddress });
  try {
    const limit = { capacity: 1_000_000_000, refillPerSecond: 1_000_000 };
    let n = 0;
    // Many keys, as many clients would: each check is one EVALSHA of the bucket script.
    const redisOp = () => kv.takeTokens(`rl:bench:client:c${n++ % 1000}:requests`, limit, 1);
    await rate(2000, 32, redisOp);
    const redisRate = await rate(CHECKS, 32, redisOp);
    const grpcOp = () =>
      sidecar.checkRateLimit({
        bucket: { tenantId: `bench-${run}`, clientId: `c${n++ % 1000}`, key: '' },
        cost: 1,
        limit,
      });
    await rate(2000, 32, grpcOp);
    const grpcRate = await rate(CHECKS, 32, grpcOp);

    const variants = {
      'rate limit + audit on': 'on',
      'rate limit off, audit on': 'no-rate-limit',
      'rate limit + audit off': 'off',
    };
    const gateways = {};
    for (const [name, variant] of Object.entries(variants)) {
      const child = await startChild(
        [fileURLToPath(import.meta.url), '--gateway', variant, sidecarAddress, controlPlaneUrl],
        {},
        'ready ',
      );
      children.push(child);
      gateways[name] = child;
    }
    const app = await json(`${controlPlaneUrl}/v1/oauth/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'rate limit bench',
        tenant_id: `bench-${run}`,
        scopes: ['people:read', 'people:write'],
        rate_limit: { capacity: 1_000_000, refill_per_second: 1_000_000 },
      }),
    });
    const { access_token: token } = await json(`${controlPlaneUrl}/v1/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.client_id,
        client_secret: app.client_secret,
      }),
    });
    const auth = { authorization: `Bearer ${token}` };
    const targets = {};
    for (const [name, child] of Object.entries(gateways)) {
      const url = /ready (\S+)/.exec(child.output())[1];
      const person = await json(`${url}/v1/people`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Bench Person' }),
      });
      targets[name] = `${url}/v1/people/${person.id}`;
    }
    for (const url of Object.values(targets)) await load(url, auth, 500, CONCURRENCY); // warm-up
    // Alternating rounds, so drift on a shared machine hits every variant alike.
    const rounds = Object.fromEntries(Object.keys(targets).map((name) => [name, []]));
    for (let round = 0; round < 2; round++) {
      for (const [name, url] of Object.entries(targets))
        rounds[name].push(await load(url, auth, REQUESTS, CONCURRENCY));
    }
    const merged = Object.fromEntries(
      Object.entries(rounds).map(([name, rs]) => [
        name,
        {
          rps: rs.reduce((s, r) => s + r.rps, 0) / rs.length,
          p50: rs.reduce((s, r) => s + r.p50, 0) / rs.length,
          p99: rs.reduce((s, r) => s + r.p99, 0) / rs.length,
          failures: rs.reduce((s, r) => s + r.failures, 0),
        },
      ]),
    );

    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `${cpus().length} × ${cpu}, Node ${process.version}, loopback, Redis ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}`,
    );
    console.log(`rate-limit checks/s (${CHECKS} checks, 32 in flight, 1000 buckets):`);
    console.log(`| path | checks/s |`);
    console.log('|---|---|');
    console.log(`| Redis Lua token bucket (ioredis, direct) | ${redisRate.toFixed(0)} |`);
    console.log(`| sidecar CheckRateLimit over gRPC (→ Redis) | ${grpcRate.toFixed(0)} |`);
    console.log(
      `GET /v1/people/{id}: 2 rounds × ${REQUESTS} requests per variant, concurrency ${CONCURRENCY}:`,
    );
    console.log('| gateway | requests/s | p50 ms | p99 ms | failures |');
    console.log('|---|---|---|---|---|');
    for (const [name, r] of Object.entries(merged)) {
      console.log(
        `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failures} |`,
      );
    }
    const onR = merged['rate limit + audit on'];
    const noRlR = merged['rate limit off, audit on'];
    const offR = merged['rate limit + audit off'];
    const lost = (with_, without) => `${((1 - with_.rps / without.rps) * 100).toFixed(1)} %`;
    console.log(
      `throughput lost to the rate limit step: ${lost(onR, noRlR)} (Kong's anchor: 12 %); to rate limit + audit: ${lost(onR, offR)} (ratio on/off ${(onR.rps / offR.rps).toFixed(2)})`,
    );
    if (Object.values(merged).some((r) => r.failures)) process.exitCode = 1;
  } finally {
    sidecar.close();
    await kv.close();
    for (const { child } of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        ({ child }) => new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))),
      ),
    );
    rmSync(dataDir, { recursive: true, force: true });
  }
}
