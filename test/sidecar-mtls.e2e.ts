import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthClient, HealthCheckResponse_ServingStatus as ServingStatus } from '@cpod/proto';
import { type ChannelCredentials, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, freePort, getToken } from './helpers/platform.js';
import { type Stack, startStack } from './helpers/services.js';
import { createAuthority, issueCertificate, type Pem, writePem } from './helpers/tls.js';

// A sidecar on a non-loopback address must serve mTLS. The host's own non-loopback IPv4
// address is used when it has one (reachable only from this host in practice, and not
// loopback by any rule); otherwise the wildcard, reached through 127.0.0.1.
const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4');
const bindHost = external?.address ?? '0.0.0.0';
const connectHost = external?.address ?? '127.0.0.1';
if (!external) console.log('sidecar-mtls: no non-loopback IPv4 interface; binding 0.0.0.0 instead');

let dir: string;
let stack: Stack;
let port: number;
let ca: Pem;
let client: Pem;
let rogueClient: Pem;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cpod-mtls-'));
  const authority = createAuthority('cpod test CA');
  const rogue = createAuthority('some other CA');
  ca = authority;
  const server = issueCertificate(authority, {
    commonName: 'sidecar',
    usage: 'server',
    ips: [connectHost],
    dnsNames: ['localhost'],
  });
  client = issueCertificate(authority, { commonName: 'gateway', usage: 'client' });
  rogueClient = issueCertificate(rogue, { commonName: 'intruder', usage: 'client' });
  const caFile = join(dir, 'ca.crt');
  writePem(dir, 'ca', authority);
  const serverFiles = writePem(dir, 'sidecar', server);
  const clientFiles = writePem(dir, 'gateway', client);
  port = await freePort(bindHost);
  stack = await startStack(
    {},
    {
      pairEnv: () => ({
        CORESDK_SIDECAR_ADDR: `${bindHost}:${port}`,
        CORESDK_TLS_CERT_FILE: serverFiles.certFile,
        CORESDK_TLS_KEY_FILE: serverFiles.keyFile,
        CORESDK_TLS_CA_FILE: caFile,
        CORESDK_TLS_CLIENT_CERT_FILE: clientFiles.certFile,
        CORESDK_TLS_CLIENT_KEY_FILE: clientFiles.keyFile,
      }),
    },
  );
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function healthCheck(creds: ChannelCredentials): Promise<ServingStatus> {
  const health = new HealthClient(`${connectHost}:${port}`, creds);
  return new Promise<ServingStatus>((resolve, reject) => {
    health.check(
      { service: '' },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err: ServiceError | null, res) => {
        health.close();
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

const pem = (s: string) => Buffer.from(s);

describe('sidecar on a non-loopback address serves mTLS only', () => {
  it('binds exactly the configured address', () => {
    const lines = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(lines.map((l) => l.trim().split(/\s+/)[3])).toEqual([`${bindHost}:${port}`]);
  });

  it('serves a client whose certificate the CA signed', async () => {
    expect(await healthCheck(credentials.createSsl(pem(ca.cert), pem(client.key), pem(client.cert)))).toBe(
      ServingStatus.SERVING,
    );
  });

  it('refuses a client without a certificate, with one from another CA, and in plaintext', async () => {
    const refused = { code: status.UNAVAILABLE };
    await expect(
      healthCheck(credentials.createSsl(pem(ca.cert))),
      'no client certificate',
    ).rejects.toMatchObject(refused);
    await expect(
      healthCheck(credentials.createSsl(pem(ca.cert), pem(rogueClient.key), pem(rogueClient.cert))),
      'certificate from another CA',
    ).rejects.toMatchObject(refused);
    await expect(healthCheck(credentials.createInsecure()), 'plaintext').rejects.toMatchObject(refused);
  });

  it('the gateway calls it over mTLS with its client certificate: the request path works', async () => {
    const app = await createApp(stack, { tenant_id: 'acme', scopes: ['people:read', 'people:write'] });
    const token = await getToken(stack, app);
    const gatewayUrl = stack.pairs[0]?.gatewayUrl;
    const created = await fetch(`${gatewayUrl}/v1/people`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Grace Hopper' }),
    });
    expect(created.status).toBe(201);
    const refused = await fetch(`${gatewayUrl}/v1/people`, { headers: { authorization: 'Bearer forged' } });
    expect(refused.status).toBe(401);
  });
});
