// Issue 4, item 9: the OAuth engine stores everything through runtime's document port, so the
// same flows run unchanged on PostgreSQL (the embedded PGlite default is what the other
// oauth-*.e2e.ts files use). The platform gets a database of its own, dropped afterwards.
// Skipped, with a printed reason, when no PostgreSQL server is reachable.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exchangeCode,
  gatewayStatus,
  msUntilRejected,
  type OAuthApp,
  refreshWith,
  registerApp,
  registerUser,
  signIn,
} from './helpers/oauth-flow.js';
import { type Platform, startPlatform } from './helpers/platform.js';

const SERVER_URL = process.env.CPOD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const database = `cpod_oauth_e2e_${randomBytes(4).toString('hex')}`;

async function withServer<T>(fn: (client: pg.Client) => Promise<T>, url = SERVER_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const reachable = await withServer(async () => true).catch(() => false);
if (!reachable) process.stdout.write(`oauth-postgres.e2e: skipped, no PostgreSQL at ${SERVER_URL}\n`);

const databaseUrl = () => {
  const url = new URL(SERVER_URL);
  url.pathname = `/${database}`;
  return url.toString();
};

let platform: Platform;
let web: OAuthApp;

describe.skipIf(!reachable)('9. storage on PostgreSQL through the document port', () => {
  beforeAll(async () => {
    await withServer((c) => c.query(`create database "${database}"`));
    platform = await startPlatform({ CPOD_DATABASE_URL: databaseUrl() });
    web = await registerApp(platform, { client_type: 'public' });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    await withServer((c) => c.query(`drop database if exists "${database}" with (force)`));
  });

  it('9. storage: code + PKCE, refresh rotation and replay revocation run on PostgreSQL; codes and refresh tokens are stored hashed', async () => {
    const gw = platform.gatewayUrl;
    const user = await registerUser(platform);
    const { code, verifier } = await signIn(gw, web, user);
    const { res, body } = await exchangeCode(gw, web, code, verifier);
    expect(res.status, JSON.stringify(body)).toBe(200);
    const rotated = await refreshWith(gw, web, body.refresh_token ?? '');
    expect(rotated.res.status).toBe(200);
    expect(await gatewayStatus(platform, rotated.body.access_token)).toBe(200);
    expect((await refreshWith(gw, web, body.refresh_token ?? '')).body.error).toBe('invalid_grant');
    expect(await msUntilRejected(platform, rotated.body.access_token)).toBeLessThan(1_500);

    const stored = await withServer(async (c) => {
      const tables = await c.query<{ table_name: string }>(
        "select table_name from information_schema.tables where table_name like 'cpod_%'",
      );
      const names = tables.rows.map((r) => r.table_name);
      const dump = await Promise.all(
        ['cpod_authorization_codes', 'cpod_refresh_tokens', 'cpod_users'].map(async (t) =>
          JSON.stringify((await c.query(`select * from "${t}"`)).rows),
        ),
      );
      return { names, dump: dump.join('\n') };
    }, databaseUrl());
    for (const table of [
      'cpod_apps',
      'cpod_users',
      'cpod_authorization_codes',
      'cpod_refresh_tokens',
      'cpod_revocations',
    ]) {
      expect(stored.names).toContain(table);
    }
    expect(stored.dump).not.toContain(code);
    expect(stored.dump).not.toContain(body.refresh_token ?? '-');
    expect(stored.dump).not.toContain(user.password);
    expect(stored.dump).toContain('$argon2id$');
  });
});
