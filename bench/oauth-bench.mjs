// `node bench/oauth-bench.mjs`: OAuth throughput on this machine, every number next to a baseline
// measured in the same run.
//
//  1. client_credentials grants/s through the gateway (POST /v1/oauth/token, HTTP Basic, argon2id
//     with the library defaults — 19 MiB, 2 passes — never weakened), with the control plane's
//     verified-secret cache on (default, 30 s) and off (CPOD_CLIENT_SECRET_CACHE_TTL_MS=0: one
//     argon2id verification per grant). Baseline: raw argon2id verifications/s in this process
//     with the same parameters and concurrency — the ceiling an uncached grant cannot beat.
//  2. ValidateToken/s at the sidecar over gRPC: one token again and again (the sidecar's verified-
//     token cache) and a distinct token per call (a full RS256 verification each). Baseline: jose
//     RS256 verifications/s in this process.
//
// Anchors from the issue: Ory Hydra 411 grants/s on 2 CPUs with bcrypt; Keycloak ~120 grants/s
// per vCPU. Build first (`npx tsc -b`). BENCH_GRANTS, BENCH_VALIDATIONS, BENCH_CONCURRENCY tune it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SidecarClient } from '@cpod/sdk';
import { hash, verify } from '@node-rs/argon2';
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { freePort } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const GRANTS = Number(process.env.BENCH_GRANTS ?? 600);
const VALIDATIONS = Number(process.env.BENCH_VALIDATIONS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

async function startPlatform(extraEnv) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cpod-oauth-bench-'));
  const [gw, consolePort, cp, sidecar, metrics] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort('::1'),
    freePort(),
  ]);
  const adminToken = `bench-admin-${Math.random().toString(36).slice(2)}-0123456789abcdef0123`;
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
    CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
    CORESDK_CP_ADDR: `127.0.0.1:${cp}`,
    CORESDK_SIDECAR_ADDR: `[::1]:${sidecar}`,
    CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
    CPOD_DATA_DIR: dataDir,
    CPOD_ADMIN_TOKEN: adminToken,
    CPOD_LOG_LEVEL: 'error',
    ...extraEnv,
  };
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const deadline = Date.now() + 120_000;
  while (!out.includes('cpod is ready.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`platform did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((r) => child.once('exit', r));
  return {
    gatewayUrl: `http://127.0.0.1:${gw}`,
    controlPlaneUrl: `http://127.0.0.1:${cp}`,
    sidecarAddr: `[::1]:${sidecar}`,
    adminToken,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function createApp(platform) {
  const res = await fetch(`${platform.controlPlaneUrl}/v1/oauth/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', tenant_id: 'bench', scopes: ['people:read'] }),
  });
  if (res.status !== 201) throw new Error(`create app: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Runs `total` calls of `one()` with `concurrency` in flight; returns ops/s and p50/p99 ms. */
async function measure(total, concurrency, one) {
  const latencies = [];
  let issued = 0;
  let failures = 0;
  const began = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        const i = issued++;
        const start = process.hrtime.bigint();
        try {
          if (!(await one(i))) failures++;
        } catch {
          failures++;
        }
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  if (failures > 0) throw new Error(`${failures} of ${total} calls failed`);
  return { perSecond: total / seconds, p50: pct(0.5), p99: pct(0.99) };
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function grant(url, app) {
  const body = 'grant_type=client_credentials';
  const auth = `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/oauth/token`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: auth,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(res.statusCode === 200 ? JSON.parse(text).access_token : null));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const fmt = (r) =>
  `${r.perSecond.toFixed(0).padStart(6)} /s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const cpuCount = cpus().length;

console.log(`oauth bench: ${cpuCount} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
console.log(`grants ${GRANTS}, validations ${VALIDATIONS}, concurrency ${CONCURRENCY}\n`);

// --- baselines in this process -------------------------------------------------------------
const secret = `cps_${'x'.repeat(43)}`;
const phc = await hash(secret);
const argon = await measure(Math.min(GRANTS, 300), CONCURRENCY, () => verify(phc, secret));
const { privateKey, publicKey } = await generateKeyPair('RS256');
const sample = await new SignJWT({ scope: 'people:read' })
  .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(privateKey);
const rsVerify = await measure(VALIDATIONS, CONCURRENCY, async () => {
  await jwtVerify(sample, publicKey);
  return true;
});
console.log(`baseline argon2id verify (in-process, ${phc.split('$')[3]})  ${fmt(argon)}`);
console.log(`baseline RS256 verify (jose, in-process)                 ${fmt(rsVerify)}\n`);

// --- grants ----------------------------------------------------------------------------------
const cached = await startPlatform({});
let results;
try {
  const app = await createApp(cached);
  await grant(cached.gatewayUrl, app); // warm the connection pool and the secret cache
  const grantsCached = await measure(GRANTS, CONCURRENCY, () => grant(cached.gatewayUrl, app));

  // Distinct tokens for uncached validation: minted now, at cached-grant speed.
  const tokens = [];
  for (let i = 0; i < VALIDATIONS; i += CONCURRENCY) {
    tokens.push(
      ...(await Promise.all(Array.from({ length: CONCURRENCY }, () => grant(cached.gatewayUrl, app)))),
    );
  }
  const sidecar = new SidecarClient({ address: cached.sidecarAddr, timeoutMs: 5_000 });
  const one = tokens[0];
  await sidecar.validateToken(one);
  const validateCached = await measure(
    VALIDATIONS,
    CONCURRENCY,
    async () => (await sidecar.validateToken(one)).valid,
  );
  const validateUncached = await measure(
    VALIDATIONS,
    CONCURRENCY,
    async (i) => (await sidecar.validateToken(tokens[i])).valid,
  );
  sidecar.close();
  results = { grantsCached, validateCached, validateUncached };
} finally {
  await cached.stop();
}

const uncached = await startPlatform({ CPOD_CLIENT_SECRET_CACHE_TTL_MS: '0' });
try {
  const app = await createApp(uncached);
  await grant(uncached.gatewayUrl, app);
  results.grantsUncached = await measure(Math.min(GRANTS, 300), CONCURRENCY, () =>
    grant(uncached.gatewayUrl, app),
  );
} finally {
  await uncached.stop();
}

const { grantsCached, grantsUncached, validateCached, validateUncached } = results;
console.log('client_credentials grants/s through the gateway (argon2id 19 MiB, t=2):');
console.log(`  verified-secret cache off (argon2id every grant)  ${fmt(grantsUncached)}`);
console.log(`  verified-secret cache on (default, 30 s)          ${fmt(grantsCached)}`);
console.log(
  `  uncached vs argon2id baseline ${ratio(grantsUncached.perSecond, argon.perSecond)}; cached vs uncached ${ratio(grantsCached.perSecond, grantsUncached.perSecond)}`,
);
console.log(
  `  per CPU: uncached ${(grantsUncached.perSecond / cpuCount).toFixed(0)}/s, cached ${(grantsCached.perSecond / cpuCount).toFixed(0)}/s` +
    ` — anchors: Hydra 411/s on 2 CPUs (${(411 / 2).toFixed(0)}/CPU, bcrypt), Keycloak ~120/s per vCPU`,
);
console.log(
  `  uncached vs Keycloak per-vCPU ${ratio(grantsUncached.perSecond / cpuCount, 120)}, vs Hydra per-CPU ${ratio(grantsUncached.perSecond / cpuCount, 411 / 2)}\n`,
);
console.log('ValidateToken/s at the sidecar (gRPC over loopback):');
console.log(`  same token (verified-token cache hit)   ${fmt(validateCached)}`);
console.log(`  distinct tokens (RS256 verify each)     ${fmt(validateUncached)}`);
console.log(
  `  uncached vs in-process RS256 baseline ${ratio(validateUncached.perSecond, rsVerify.perSecond)}; cached vs uncached ${ratio(validateCached.perSecond, validateUncached.perSecond)}`,
);
agent.destroy();
