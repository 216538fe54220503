// `npm start`: runs control plane, sidecar and gateway as child processes on their real
// ports with embedded stores, wires the sidecar to the control plane's JWKS, and stops
// all three together (Ctrl-C, or when any one of them dies).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** host:port or [v6]:port -> a URL we can connect to (wildcards via loopback). */
function urlOf(addr) {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid address ${addr}`);
  let host = m[1] ?? (m[2] || '0.0.0.0');
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${m[3]}`;
}

const env = { ...process.env };
env.CPOD_DATA_DIR = resolve(env.CPOD_DATA_DIR || '.cpod/data');
const generatedAdminToken = !env.CPOD_ADMIN_TOKEN;
if (generatedAdminToken) env.CPOD_ADMIN_TOKEN = `cpa_${randomBytes(32).toString('base64url')}`;
// The gateways read the control plane's revocation feed with a token that can do nothing else.
env.CPOD_REVOCATION_FEED_TOKEN ||= `crf_${randomBytes(32).toString('base64url')}`;
const cpUrl = urlOf(env.CORESDK_CP_ADDR || '127.0.0.1:8080');
env.CORESDK_JWKS_URI ||= `${cpUrl}/.well-known/jwks.json`;
const gatewayUrl = urlOf(env.CPOD_GATEWAY_ADDR || '0.0.0.0:8000');
const consoleUrl = urlOf(env.CPOD_CONSOLE_ADDR || '127.0.0.1:8001');

const children = new Map();
let stopping = false;

function run(name, script, childEnv = env) {
  const child = spawn(process.execPath, [join(root, script)], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (stream, out) => {
    let buffered = '';
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      process.stderr.write(
        `[start] ${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the others\n`,
      );
      stop(1);
    } else if (children.size === 0) {
      process.exit(exitCode);
    }
  });
  children.set(name, child);
}

let exitCode = 0;
function stop(code) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  if (children.size === 0) process.exit(code);
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(code || 1);
  }, 12_000).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function waitFor(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

run('control-plane', 'control-plane/dist/bin.js');
await waitFor(`${cpUrl}/readyz`, 60_000);
run('sidecar', 'sidecar/dist/bin.js');
// The internet-facing gateway never holds the admin token.
const { CPOD_ADMIN_TOKEN: _admin, ...gatewayEnv } = env;
run('gateway', 'gateway/dist/bin.js', gatewayEnv);
if (!(await waitFor(`${gatewayUrl}/readyz`, 90_000))) {
  if (!stopping) {
    process.stderr.write('[start] the platform did not become ready within 90 s\n');
    stop(1);
  }
} else {
  const admin = generatedAdminToken
    ? `${env.CPOD_ADMIN_TOKEN}   (generated; set CPOD_ADMIN_TOKEN to choose one)`
    : '(from CPOD_ADMIN_TOKEN)';
  process.stdout.write(`
cpod is ready.
  gateway (REST + GraphQL)  ${gatewayUrl}        OpenAPI: ${gatewayUrl}/openapi.json
  console (GraphiQL)        ${consoleUrl}/graphql
  control plane (internal)  ${cpUrl}
  admin token               ${admin}

Try it:
  export CPOD_ADMIN_TOKEN=${env.CPOD_ADMIN_TOKEN}
  curl -s -X POST ${cpUrl}/v1/oauth/apps -H "Authorization: Bearer $CPOD_ADMIN_TOKEN" \\
    -H 'content-type: application/json' \\
    -d '{"name":"demo","tenant_id":"acme","scopes":["people:read","people:write","audit:read"]}' | tee /tmp/cpod-app.json
  CLIENT_ID=$(node -p 'require("/tmp/cpod-app.json").client_id'); CLIENT_SECRET=$(node -p 'require("/tmp/cpod-app.json").client_secret')
  TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials ${gatewayUrl}/v1/oauth/token | node -p 'JSON.parse(require("fs").readFileSync(0)).access_token')
  curl -s -X POST ${gatewayUrl}/v1/people -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"name":"Ada Lovelace","email":"ada@example.com"}'
  curl -s ${gatewayUrl}/v1/people -H "Authorization: Bearer $TOKEN"

Press Ctrl-C to stop all three.
`);
}
