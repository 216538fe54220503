import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthServiceClient,
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type ValidateTokenResponse,
} from '@cpod/proto';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, freePort, getToken, type Platform, ROOT, startPlatform } from './helpers/platform.js';
import { type Service, startService } from './helpers/services.js';

const listening = (port: number) =>
  execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.trim().split(/\s+/)[3]);

/** `name{labels} value` lines of a Prometheus text page. */
function series(text: string) {
  return (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
}

describe('the platform as `npm start` runs it', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform();
  }, 120_000);
  afterAll(() => platform?.stop());

  it('binds sidecar gRPC to [::1] and its health/metrics listener to 127.0.0.1 only (ss)', () => {
    expect(listening(platform.sidecarPort)).toEqual([`[::1]:${platform.sidecarPort}`]);
    const metricsPort = Number(new URL(platform.metricsUrl).port);
    expect(listening(metricsPort)).toEqual([`127.0.0.1:${metricsPort}`]);
  });

  it('answers grpc.health.v1 Check on the sidecar address', async () => {
    const health = new HealthClient(platform.sidecarAddr, credentials.createInsecure());
    const answer = await new Promise<{ status: ServingStatus }>((resolve, reject) =>
      health.check({ service: '' }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res))),
    );
    health.close();
    expect(answer.status).toBe(ServingStatus.SERVING);
  });

  it('counts the traffic: sidecar and gateway metrics after real requests', async () => {
    const app = await createApp(platform, {
      tenant_id: 'acme',
      scopes: ['people:read', 'people:write'],
      rate_limit: { capacity: 4, refill_per_second: 0.1 },
    });
    const token = await getToken(platform, app);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${platform.gatewayUrl}/v1/people`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await res.body?.cancel();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    const forged = await fetch(`${platform.gatewayUrl}/v1/people/abc`, {
      headers: { authorization: 'Bearer x' },
    });
    expect(forged.status).toBe(401);

    const sidecarText = await (await fetch(`${platform.metricsUrl}/metrics`)).text();
    const sidecar = series(sidecarText);
    // One Check per request, the forged token's included: an invalid token is an answer, not an error.
    expect(sidecar('cpod_sidecar_rpc_total{method="Check",outcome="ok"}')).toBeGreaterThanOrEqual(7);
    // Summed over any labels after method, so an added outcome label keeps this meaningful.
    const checkTimings = sidecarText
      .split('\n')
      .filter((l) => l.startsWith('cpod_sidecar_rpc_duration_seconds_count{method="Check"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    expect(checkTimings).toBeGreaterThanOrEqual(7);
    // One token, six requests: five answered from the cache without a signature check.
    expect(sidecar('cpod_sidecar_token_cache_hits_total')).toBeGreaterThanOrEqual(5);
    expect(sidecar('cpod_sidecar_jwks_refreshes_total{result="success"}')).toBeGreaterThanOrEqual(1);
    expect(sidecar('cpod_sidecar_rate_limit_rejections_total')).toBeGreaterThanOrEqual(2);
    expect(sidecar('cpod_sidecar_audit_appends_total')).toBeGreaterThanOrEqual(1);
    expect(sidecar('cpod_sidecar_policy_queue_depth')).toBe(0);

    const consoleRes = await fetch(`${platform.consoleUrl}/metrics`);
    expect(consoleRes.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const gateway = series(await consoleRes.text());
    const people = 'listener="public",route="/v1/people",method="GET"';
    expect(gateway(`cpod_gateway_requests_total{${people},status="200"}`)).toBe(4);
    expect(gateway(`cpod_gateway_requests_total{${people},status="429"}`)).toBe(2);
    expect(
      gateway(
        `cpod_gateway_requests_total{listener="public",route="/v1/people/{id}",method="GET",status="401"}`,
      ),
    ).toBe(1);
    expect(gateway(`cpod_gateway_request_duration_seconds_count{${people},status="200"}`)).toBe(4);
    // Metrics are internal: the public listener has none.
    expect((await fetch(`${platform.gatewayUrl}/metrics`)).status).toBe(404);
  });
});

describe('CORESDK_INSECURE_DEV_TOKENS=1 with no JWKS: the sidecar alone, tokens from dev-token-cli', () => {
  let dataDir: string;
  let sidecar: Service;
  let env: Record<string, string>;
  let sidecarAddr: string;
  let metricsUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cpod-devtokens-'));
    const [grpcPort, metricsPort] = await Promise.all([freePort('::1'), freePort()]);
    sidecarAddr = `[::1]:${grpcPort}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    env = {
      CPOD_DATA_DIR: dataDir,
      CORESDK_SIDECAR_ADDR: sidecarAddr,
      CORESDK_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      CORESDK_INSECURE_DEV_TOKENS: '1',
      CPOD_LOG_LEVEL: 'warn',
    };
    sidecar = await startService('sidecar', env, `${metricsUrl}/readyz`);
  }, 90_000);
  afterAll(async () => {
    await sidecar?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [join(ROOT, 'sidecar/dist/dev-token-cli.js'), ...args],
        { env: { PATH: process.env.PATH, ...env, ...extraEnv } },
        (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
    });

  const validate = (token: string) => {
    const auth = new AuthServiceClient(sidecarAddr, credentials.createInsecure());
    return new Promise<ValidateTokenResponse>((resolve, reject) =>
      auth.validateToken({ token }, (err: ServiceError | null, res) => {
        auth.close();
        if (err) reject(err);
        else resolve(res);
      }),
    );
  };

  it('warns at start and on /healthz', async () => {
    expect(sidecar.output()).toContain('INSECURE: CORESDK_INSECURE_DEV_TOKENS=1');
    const health = (await (await fetch(`${metricsUrl}/healthz`)).json()) as { warnings: string[] };
    expect(health.warnings[0]).toContain('INSECURE');
  });

  it('accepts a token from the CLI, and still refuses forged ones', async () => {
    const minted = await cli(['--tenant', 'acme', '--scope', 'people:read people:write']);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim();
    expect(await validate(token)).toMatchObject({
      valid: true,
      principal: { tenantId: 'acme', scopes: ['people:read', 'people:write'] },
    });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const edited = Buffer.from(JSON.stringify({ ...claims, tenant_id: 'globex' })).toString('base64url');
    expect(await validate(`${header}.${edited}.${signature}`)).toMatchObject({ valid: false });
    expect(await validate('any-token-at-all')).toMatchObject({ valid: false });
    // Another data dir means another dev key: its tokens are not ours.
    const otherDir = mkdtempSync(join(tmpdir(), 'cpod-devtokens-other-'));
    try {
      const other = await cli([], { CPOD_DATA_DIR: otherDir });
      expect(await validate(other.stdout.trim())).toMatchObject({ valid: false, reason: 'unknown_key' });
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('the CLI refuses without the flag, in production, and a lifetime over one hour', async () => {
    expect((await cli([], { CORESDK_INSECURE_DEV_TOKENS: '0' })).stderr).toContain('is not set');
    expect((await cli([], { CORESDK_ENV: 'production' })).stderr).toContain('do not exist in production');
    const long = await cli(['--ttl', '3601']);
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('--ttl');
  });
});
