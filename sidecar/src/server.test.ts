import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { envToConfig, readEnv } from '@cpod/runtime';
import { describe, expect, it } from 'vitest';
import { checkSidecarConfig } from './server.js';

describe('sidecar start-up refusals', () => {
  it('refuses a non-loopback address and a missing JWKS URI, naming both', () => {
    const config = envToConfig(readEnv({ CORESDK_SIDECAR_ADDR: '0.0.0.0:50051' }));
    expect(() => checkSidecarConfig(config)).toThrow(/CORESDK_SIDECAR_ADDR[\s\S]*CORESDK_JWKS_URI/);
  });

  it('refuses production without issuer and audience', () => {
    const config = envToConfig(
      readEnv({ CORESDK_ENV: 'production', CORESDK_JWKS_URI: 'http://127.0.0.1:1/jwks' }),
    );
    expect(() => checkSidecarConfig(config)).toThrow(
      /CORESDK_EXPECTED_ISSUER[\s\S]*CORESDK_EXPECTED_AUDIENCE/,
    );
  });

  it('accepts loopback with a JWKS URI', () => {
    const config = envToConfig(
      readEnv({ CORESDK_SIDECAR_ADDR: '127.0.0.1:50051', CORESDK_JWKS_URI: 'http://127.0.0.1:1/jwks' }),
    );
    expect(checkSidecarConfig(config).jwksUri).toBe('http://127.0.0.1:1/jwks');
  });

  it('the real process exits non-zero on a public address', async () => {
    const bin = join(import.meta.dirname, '../dist/bin.js');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [bin],
        {
          env: {
            PATH: process.env.PATH,
            CORESDK_SIDECAR_ADDR: '0.0.0.0:0',
            CORESDK_JWKS_URI: 'http://127.0.0.1:1/jwks',
          },
        },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not a loopback address');
  });
});
