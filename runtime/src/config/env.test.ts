import { describe, expect, it } from 'vitest';
import { envToConfig } from './config.js';
import { ConfigError, readEnv } from './env.js';

describe('readEnv', () => {
  it('applies the documented defaults', () => {
    const config = envToConfig(readEnv({}));
    expect(config.gateway.addr).toEqual({ host: '0.0.0.0', port: 8000 });
    expect(config.gateway.consoleAddr).toEqual({ host: '127.0.0.1', port: 8001 });
    expect(config.sidecar.addr).toEqual({ host: '::1', port: 50051 });
    expect(config.sidecar.failMode).toBe('closed');
    expect(config.controlPlane.issuer).toBe('http://127.0.0.1:8080');
    expect(config.sidecar.expectedIssuer).toBe('http://127.0.0.1:8080');
  });

  it('reports every problem at once, naming each variable', () => {
    let error: unknown;
    try {
      readEnv({
        CPOD_GATEWAY_ADDR: 'nonsense',
        CORESDK_FAIL_MODE: 'maybe',
        CPOD_ACCESS_TOKEN_TTL: '7200',
        CPOD_ADMIN_TOKEN: 'short',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'CPOD_GATEWAY_ADDR',
      'CORESDK_FAIL_MODE',
      'CPOD_ACCESS_TOKEN_TTL',
      'CPOD_ADMIN_TOKEN',
    ]) {
      expect(problems).toContain(name);
    }
    expect(problems).not.toContain('short');
  });

  it('does not default issuer and audience in production', () => {
    const config = envToConfig(readEnv({ CORESDK_ENV: 'production' }));
    expect(config.sidecar.expectedIssuer).toBeUndefined();
    expect(config.sidecar.expectedAudience).toBeUndefined();
  });
});
