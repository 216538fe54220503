import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from './platform.js';

export type ServiceName = 'control-plane' | 'sidecar' | 'gateway';

/** One server process started from its built `dist/bin.js`, like `npm run start:<name>`. */
export interface Service {
  readonly name: ServiceName;
  output(): string;
  exitCode(): number | null;
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns one service with exactly `env` (plus PATH/HOME) and waits until `readyUrl` answers
 * 200. Rejects with the process output when it exits or is not ready in time.
 */
export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  readyUrl: string,
  timeoutMs = 60_000,
): Promise<Service> {
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, name, 'dist/bin.js')], {
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
  const service: Service = {
    name,
    output: () => output,
    exitCode: () => child.exitCode,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      await service.stop('SIGKILL');
      throw new Error(`${name} not ready at ${readyUrl}:\n${output}`);
    }
    const ok = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) }).then(
      async (res) => {
        await res.body?.cancel();
        return res.ok;
      },
      () => false,
    );
    if (ok) return service;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A gateway with its own sidecar, as deployed per replica. */
export interface Pair {
  gatewayUrl: string;
  consoleUrl: string;
  sidecarAddr: string;
  metricsUrl: string;
  /** The environment both processes of this pair were started with. */
  env: Record<string, string>;
  sidecar: Service;
  gateway: Service;
  /** Stops the sidecar (SIGKILL simulates a crash) and leaves it down. */
  stopSidecar(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the sidecar again on the same address and data dir. */
  startSidecar(): Promise<void>;
}

export interface Stack {
  controlPlaneUrl: string;
  adminToken: string;
  /** Convenience: the first pair's gateway, so `createApp`/`getToken` accept a Stack. */
  gatewayUrl: string;
  pairs: Pair[];
  stop(): Promise<void>;
}

/**
 * One control plane and `pairs` gateway + sidecar pairs, each process started on its own
 * (not through `npm start`), so a test can kill and restart a single sidecar. Pairs have
 * separate data dirs; to share stores between replicas pass `CPOD_DATABASE_URL` and
 * `CPOD_REDIS_URL` in `env`. `pairEnv(i)` adds variables to pair i only.
 */
export async function startStack(
  env: Record<string, string> = {},
  options: { pairs?: number; pairEnv?: (index: number) => Record<string, string> } = {},
): Promise<Stack> {
  const root = mkdtempSync(join(tmpdir(), 'cpod-stack-'));
  const adminToken = `test-admin-${Math.random().toString(36).slice(2)}-0123456789abcdef0123456789`;
  const cpPort = await freePort();
  const controlPlaneUrl = `http://127.0.0.1:${cpPort}`;
  const base: Record<string, string> = {
    CORESDK_CP_ADDR: `127.0.0.1:${cpPort}`,
    CORESDK_JWKS_URI: `${controlPlaneUrl}/.well-known/jwks.json`,
    CPOD_ADMIN_TOKEN: adminToken,
    CPOD_REVOCATION_FEED_TOKEN: `test-feed-${adminToken}`,
    CPOD_LOG_LEVEL: 'warn',
    ...env,
  };
  const services: Service[] = [];
  const stopAll = async () => {
    await Promise.all(services.map((s) => s.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const cp = await startService(
      'control-plane',
      { ...base, CPOD_DATA_DIR: join(root, 'cp') },
      `${controlPlaneUrl}/readyz`,
    );
    services.push(cp);
    const pairs: Pair[] = [];
    for (let i = 0; i < (options.pairs ?? 1); i++) {
      const [gw, consolePort, sidecarPort, metrics] = await Promise.all([
        freePort(),
        freePort(),
        freePort('::1'),
        freePort(),
      ]);
      const pairEnv: Record<string, string> = {
        ...base,
        CPOD_DATA_DIR: join(root, `pair-${i}`),
        CPOD_GATEWAY_ADDR: `127.0.0.1:${gw}`,
        CPOD_CONSOLE_ADDR: `127.0.0.1:${consolePort}`,
        CORESDK_SIDECAR_ADDR: `[::1]:${sidecarPort}`,
        CORESDK_METRICS_ADDR: `127.0.0.1:${metrics}`,
        ...options.pairEnv?.(i),
      };
      const metricsUrl = `http://127.0.0.1:${metrics}`;
      const launchSidecar = async () => {
        const sidecar = await startService('sidecar', pairEnv, `${metricsUrl}/readyz`);
        services.push(sidecar);
        return sidecar;
      };
      const sidecar = await launchSidecar();
      const gatewayUrl = `http://127.0.0.1:${gw}`;
      // As deployed: the gateway gets the feed token, never the admin token.
      const gateway = await startService(
        'gateway',
        { ...pairEnv, CPOD_ADMIN_TOKEN: '' },
        `${gatewayUrl}/healthz`,
      );
      services.push(gateway);
      const pair: Pair = {
        gatewayUrl,
        consoleUrl: `http://127.0.0.1:${consolePort}`,
        sidecarAddr: `[::1]:${sidecarPort}`,
        metricsUrl,
        env: pairEnv,
        sidecar,
        gateway,
        stopSidecar: (signal) => pair.sidecar.stop(signal),
        startSidecar: async () => {
          pair.sidecar = await launchSidecar();
        },
      };
      pairs.push(pair);
    }
    return { controlPlaneUrl, adminToken, gatewayUrl: pairs[0]?.gatewayUrl ?? '', pairs, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
