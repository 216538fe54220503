#!/usr/bin/env node
// Mints an access token for a sidecar running with CORESDK_INSECURE_DEV_TOKENS=1, from the
// same environment (CPOD_DATA_DIR decides which dev key is used):
//   CORESDK_INSECURE_DEV_TOKENS=1 node sidecar/dist/dev-token-cli.js --tenant acme --scope "people:read"
import { parseArgs } from 'node:util';
import { envToConfig, readEnv } from '@cpod/runtime';
import { devKeyPath, loadOrCreateDevKey, mintDevToken } from './dev-token.js';

const USAGE = 'usage: dev-token-cli [--tenant ID] [--client ID] [--scope "a b"] [--ttl SECONDS (max 3600)]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    tenant: { type: 'string', default: 'dev' },
    client: { type: 'string', default: 'dev-client' },
    scope: { type: 'string', default: 'people:read people:write audit:read' },
    ttl: { type: 'string', default: '900' },
  },
});
const config = envToConfig(readEnv(process.env));
if (config.env === 'production') fail('dev tokens do not exist in production');
if (!config.sidecar.insecureDevTokens) {
  fail(
    'CORESDK_INSECURE_DEV_TOKENS=1 is not set: the sidecar verifies tokens from the control plane instead',
  );
}
const ttlSeconds = Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 3600) {
  fail('--ttl must be a whole number of seconds from 1 to 3600');
}
const { expectedIssuer: issuer, expectedAudience: audience } = config.sidecar;
if (!issuer || !audience) fail('CORESDK_EXPECTED_ISSUER and CORESDK_EXPECTED_AUDIENCE are required');
const key = await loadOrCreateDevKey(devKeyPath(config));
const token = await mintDevToken(key, {
  issuer,
  audience,
  tenantId: values.tenant,
  clientId: values.client,
  scopes: values.scope.split(' ').filter(Boolean),
  ttlSeconds,
});
process.stdout.write(`${token}\n`);
