import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthServiceClient,
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type ValidateTokenResponse,
} from '@cpod/proto';
import { createLogger, envToConfig, readEnv } from '@cpod/runtime';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devKeyPath, loadOrCreateDevKey, mintDevToken } from './dev-token.js';
import { checkSidecarConfig, startSidecar } from './server.js';

const JWKS = { CORESDK_JWKS_URI: 'http://127.0.0.1:1/jwks' };
const PRODUCTION = {
  ...JWKS,
  CORESDK_ENV: 'production',
  CORESDK_EXPECTED_ISSUER: 'https://auth.example',
  CORESDK_EXPECTED_AUDIENCE: 'cpod-api',
};
const TLS = {
  CORESDK_TLS_CERT_FILE: '/secrets/sidecar.crt',
  CORESDK_TLS_KEY_FILE: '/secrets/sidecar.key',
  CORESDK_TLS_CA_FILE: '/secrets/ca.crt',
};
const check = (env: Record<string, string>) => () => checkSidecarConfig(envToConfig(readEnv(env)));

describe('sidecar start-up refusals', () => {
  it('refuses production without JWKS URI, issuer and audience, naming each', () => {
    expect(check({ CORESDK_ENV: 'production' })).toThrow(
      /CORESDK_JWKS_URI is required in production[\s\S]*CORESDK_EXPECTED_ISSUER[\s\S]*CORESDK_EXPECTED_AUDIENCE/,
    );
    for (const missing of ['CORESDK_JWKS_URI', 'CORESDK_EXPECTED_ISSUER', 'CORESDK_EXPECTED_AUDIENCE']) {
      const env: Record<string, string> = { ...PRODUCTION };
      delete env[missing];
      expect(check(env), missing).toThrow(new RegExp(`${missing} is required in production`));
    }
    expect(check(PRODUCTION)()).toMatchObject({ keys: { kind: 'jwks' }, warnings: [] });
  });

  it('refuses insecure dev tokens in production', () => {
    expect(check({ ...PRODUCTION, CORESDK_INSECURE_DEV_TOKENS: '1' })).toThrow(
      /CORESDK_INSECURE_DEV_TOKENS must not be set in production/,
    );
  });

  it('refuses development without a JWKS URI unless insecure dev tokens are asked for, then warns', () => {
    expect(check({})).toThrow(/CORESDK_JWKS_URI is required[\s\S]*CORESDK_INSECURE_DEV_TOKENS=1/);
    const setup = check({ CORESDK_INSECURE_DEV_TOKENS: '1', CPOD_DATA_DIR: '/data' })();
    expect(setup.keys).toEqual({ kind: 'dev', file: '/data/sidecar/dev-token-key.json' });
    expect(setup.warnings).toEqual([expect.stringMatching(/^INSECURE: CORESDK_INSECURE_DEV_TOKENS=1/)]);
    // With a JWKS URI the flag changes nothing but is reported.
    expect(check({ ...JWKS, CORESDK_INSECURE_DEV_TOKENS: '1' })()).toMatchObject({
      keys: { kind: 'jwks' },
      warnings: [expect.stringContaining('is ignored')],
    });
  });

  it('refuses a non-loopback address without mTLS, naming the three TLS variables', () => {
    for (const addr of ['0.0.0.0:50051', '[::]:50051', '192.0.2.10:50051']) {
      expect(check({ ...JWKS, CORESDK_SIDECAR_ADDR: addr }), addr).toThrow(
        /not a loopback address[\s\S]*CORESDK_TLS_CERT_FILE, CORESDK_TLS_KEY_FILE, CORESDK_TLS_CA_FILE/,
      );
    }
    expect(check({ ...JWKS, ...TLS, CORESDK_SIDECAR_ADDR: '0.0.0.0:50051' })().tls).toEqual({
      certFile: '/secrets/sidecar.crt',
      keyFile: '/secrets/sidecar.key',
      caFile: '/secrets/ca.crt',
    });
  });

  it('refuses a partial TLS configuration, even on loopback, naming what is missing', () => {
    expect(check({ ...JWKS, CORESDK_TLS_CERT_FILE: '/secrets/sidecar.crt' })).toThrow(
      /mTLS is half configured: CORESDK_TLS_KEY_FILE, CORESDK_TLS_CA_FILE are missing/,
    );
    expect(
      check({
        ...JWKS,
        CORESDK_TLS_CERT_FILE: '/a',
        CORESDK_TLS_KEY_FILE: '/b',
        CORESDK_SIDECAR_ADDR: '0.0.0.0:1',
      }),
    ).toThrow(/CORESDK_TLS_CA_FILE is missing/);
  });

  it('accepts loopback with a JWKS URI', () => {
    const setup = check({ CORESDK_SIDECAR_ADDR: '127.0.0.1:50051', ...JWKS })();
    expect(setup).toMatchObject({ keys: { kind: 'jwks', uri: JWKS.CORESDK_JWKS_URI }, tls: undefined });
  });

  const runBin = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [join(import.meta.dirname, '../dist/bin.js')],
        { env: { PATH: process.env.PATH, ...env } },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });

  it('the real process exits non-zero on a public address and on production without issuer', async () => {
    const publicAddr = await runBin({ CORESDK_SIDECAR_ADDR: '0.0.0.0:0', ...JWKS });
    expect(publicAddr.code).toBe(1);
    expect(publicAddr.stderr).toContain('not a loopback address');
    const prod = await runBin({ CORESDK_ENV: 'production', ...JWKS });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toMatch(/CORESDK_EXPECTED_ISSUER is required in production/);
  });

  it('the real process names an unreadable TLS file', async () => {
    const result = await runBin({ ...JWKS, ...TLS, CORESDK_SIDECAR_ADDR: '127.0.0.1:0' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CORESDK_TLS_CA_FILE \/secrets\/ca.crt cannot be read \(ENOENT\)/);
  });
});

const unary = <Res>(call: (cb: (err: ServiceError | null, res: Res) => void) => void) =>
  new Promise<Res>((resolve, reject) => call((err, res) => (err ? reject(err) : resolve(res))));

async function startInProcess(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cpod-sidecar-'));
  const config = envToConfig(
    readEnv({
      CORESDK_SIDECAR_ADDR: '[::1]:0',
      CORESDK_METRICS_ADDR: '127.0.0.1:0',
      CPOD_DATA_DIR: dataDir,
      CORESDK_POLICY_WORKERS: '1',
      ...env,
    }),
  );
  const sidecar = await startSidecar(config, createLogger({ level: 'silent' }));
  const target = `[::1]:${sidecar.address.port}`;
  return {
    config,
    sidecar,
    health: new HealthClient(target, credentials.createInsecure()),
    auth: new AuthServiceClient(target, credentials.createInsecure()),
    stop: async () => {
      await sidecar.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe('insecure dev tokens (verified against the local dev key, never "any token")', () => {
  let s: Awaited<ReturnType<typeof startInProcess>>;
  beforeAll(async () => {
    s = await startInProcess({ CORESDK_INSECURE_DEV_TOKENS: '1' });
  }, 60_000);
  afterAll(() => s?.stop());

  const validate = (token: string) =>
    unary<ValidateTokenResponse>((cb) => s.auth.validateToken({ token }, cb));

  it('accepts a token minted with the dev key and refuses any other', async () => {
    const key = await loadOrCreateDevKey(devKeyPath(s.config));
    const claims = {
      issuer: s.config.sidecar.expectedIssuer as string,
      audience: s.config.sidecar.expectedAudience as string,
      tenantId: 'acme',
      clientId: 'dev-client',
      scopes: ['people:read'],
      ttlSeconds: 300,
    };
    const good = await validate(await mintDevToken(key, claims));
    expect(good).toMatchObject({ valid: true, principal: { tenantId: 'acme', scopes: ['people:read'] } });
    const stranger = await loadOrCreateDevKey(join(s.config.dataDir, 'other-key.json'));
    expect(await validate(await mintDevToken(stranger, claims))).toMatchObject({
      valid: false,
      reason: 'unknown_key',
    });
    expect(await validate(await mintDevToken(key, { ...claims, audience: 'other' }))).toMatchObject({
      valid: false,
      reason: 'wrong_audience',
    });
    expect(await validate('garbage')).toMatchObject({ valid: false });
  });

  it('says so in every /healthz answer', async () => {
    for (let i = 0; i < 2; i++) {
      const body = await (await fetch(`${s.sidecar.health.url}/healthz`)).json();
      expect(body).toMatchObject({ status: 'ok', warnings: [expect.stringContaining('INSECURE')] });
    }
  });
});

describe('grpc.health.v1', () => {
  let s: Awaited<ReturnType<typeof startInProcess>>;
  beforeAll(async () => {
    s = await startInProcess(JWKS);
  }, 60_000);
  afterAll(() => s?.stop());

  const checkService = (service: string) =>
    unary<{ status: ServingStatus }>((cb) => s.health.check({ service }, cb));

  it('answers SERVING overall and per service when policy and stores are up', async () => {
    for (const service of [
      '',
      'coresdk.v1.AuthService',
      'coresdk.v1.RateLimitService',
      'coresdk.v1.AuditService',
      'coresdk.v1.PolicyService',
    ]) {
      expect(await checkService(service), service).toEqual({ status: ServingStatus.SERVING });
    }
    expect((await fetch(`${s.sidecar.health.url}/healthz`).then((r) => r.json())).warnings).toBeUndefined();
  });

  it('answers NOT_FOUND for an unknown service', async () => {
    await expect(checkService('coresdk.v1.NoSuchService')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('Watch sends the current status at once, and SERVICE_UNKNOWN for an unknown service', async () => {
    const first = (service: string) =>
      new Promise<ServingStatus>((resolve, reject) => {
        const stream = s.health.watch({ service });
        stream.once('data', (m: { status: ServingStatus }) => {
          resolve(m.status);
          stream.cancel();
        });
        stream.once('error', (err: ServiceError) => {
          if (err.code !== status.CANCELLED) reject(err);
        });
      });
    expect(await first('')).toBe(ServingStatus.SERVING);
    expect(await first('nope')).toBe(ServingStatus.SERVICE_UNKNOWN);
  });
});

describe('not ready when a store is unreachable', () => {
  let s: Awaited<ReturnType<typeof startInProcess>>;
  beforeAll(async () => {
    // Nothing listens on port 1: the key/value store (revocations, rate limits) is down.
    s = await startInProcess({ ...JWKS, CPOD_REDIS_URL: 'redis://127.0.0.1:1' });
  }, 60_000);
  afterAll(() => s?.stop());

  it('reports NOT_SERVING for what needs it, SERVING for the rest, and /readyz 503 with the reason', async () => {
    const statusOf = async (service: string) =>
      (await unary<{ status: ServingStatus }>((cb) => s.health.check({ service }, cb))).status;
    expect(await statusOf('')).toBe(ServingStatus.NOT_SERVING);
    expect(await statusOf('coresdk.v1.RateLimitService')).toBe(ServingStatus.NOT_SERVING);
    expect(await statusOf('coresdk.v1.AuthService')).toBe(ServingStatus.NOT_SERVING);
    expect(await statusOf('coresdk.v1.AuditService')).toBe(ServingStatus.SERVING);
    expect(await statusOf('coresdk.v1.PolicyService')).toBe(ServingStatus.SERVING);
    const ready = await fetch(`${s.sidecar.health.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { reasons: string[] };
    expect(body.reasons).toEqual([expect.stringMatching(/^kv: /)]);
    expect(JSON.stringify(body)).not.toContain('redis://');
  });
});
