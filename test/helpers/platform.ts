import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A port that was free a moment ago (the OS hands out a new one each time). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Platform {
  gatewayUrl: string;
  consoleUrl: string;
  controlPlaneUrl: string;
  sidecarAddr: string;
  sidecarPort: number;
  metricsUrl: string;
  adminToken: string;
  dataDir: string;
  env: Record<string, string>;
  output: () => string;
  exitCode: () => number | null;
  /** Signals the launcher (SIGTERM by default) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the whole platform through `scripts/start.mjs` — the same path as `npm start` — on fresh ports. */
export async function startPlatform(extraEnv: Record<string, string> = {}): Promise<Platform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cpod-e2e-'));
  const [gw, consolePort, cp, sidecar, metrics] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort('::1'),
    freePort(),
  ]);
  const adminToken = `test-admin-${Math.random().toString(36).slice(2)}-0123456789abcdef0123456789`;
  const env: Record<string, string> = {
    CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
    CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
    CORESDK_CP_ADDR: `127.0.0.1:${cp}`,
    CORESDK_SIDECAR_ADDR: `[::1]:${sidecar}`,
    CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
    CPOD_DATA_DIR: dataDir,
    CPOD_ADMIN_TOKEN: adminToken,
    CPOD_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const platform: Platform = {
    gatewayUrl: `http://127.0.0.1:${gw}`,
    consoleUrl: `http://127.0.0.1:${consolePort}`,
    controlPlaneUrl: `http://127.0.0.1:${cp}`,
    sidecarAddr: `[::1]:${sidecar}`,
    sidecarPort: sidecar,
    metricsUrl: `http://127.0.0.1:${metrics}`,
    adminToken,
    dataDir,
    env,
    output: () => output,
    exitCode: () => child.exitCode,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 90_000;
  while (!output.includes('cpod is ready.')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await platform.stop();
      throw new Error(`platform did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return platform;
}

export interface AppCredentials {
  client_id: string;
  client_secret: string;
  tenant_id: string;
  scopes: string[];
}

export async function createApp(
  platform: Pick<Platform, 'controlPlaneUrl' | 'adminToken'>,
  body: {
    name?: string;
    tenant_id: string;
    scopes: string[];
    rate_limit?: { capacity: number; refill_per_second: number };
  },
): Promise<AppCredentials> {
  const res = await fetch(`${platform.controlPlaneUrl}/v1/oauth/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: body.name ?? 'test app', ...body }),
  });
  if (res.status !== 201) throw new Error(`create app: ${res.status} ${await res.text()}`);
  return (await res.json()) as AppCredentials;
}

export async function getToken(
  platform: Pick<Platform, 'gatewayUrl'>,
  app: AppCredentials,
  scope?: string,
): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  const res = await fetch(`${platform.gatewayUrl}/v1/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The control plane's private signing key, read from the data dir: lets tests forge tokens with the real key. */
export function signingKey(platform: Platform): { kid: string; privateJwk: Record<string, unknown> } {
  const file = JSON.parse(readFileSync(join(platform.dataDir, 'control-plane/signing-key.json'), 'utf8')) as {
    keys: Array<{ kid: string; role?: string; privateJwk: Record<string, unknown> }>;
  };
  const current = file.keys.find((k) => k.role === 'current');
  if (!current) throw new Error('signing key file has no current key');
  return current;
}
