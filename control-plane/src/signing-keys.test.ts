import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSigningKeys, type SigningKeys } from './signing-keys.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function keyPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cpod-keys-'));
  dirs.push(dir);
  return join(dir, 'keys/signing-key.json');
}

async function sign(keys: SigningKeys, nowSeconds: number): Promise<string> {
  const key = keys.current;
  return new SignJWT({ client_id: 'app_1' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + 600)
    .sign(key.privateKey);
}

const verifies = (keys: SigningKeys, token: string, nowSeconds: number) =>
  jwtVerify(token, createLocalJWKSet(keys.jwks()), { currentDate: new Date(nowSeconds * 1000) }).then(
    () => true,
    () => false,
  );

const kids = (keys: SigningKeys) => keys.jwks().keys.map((k) => k.kid);

describe('signing-key rotation', () => {
  it('publishes the next key before it signs anything', async () => {
    const keys = await loadSigningKeys(keyPath(), { tokenTtlSeconds: 600 });
    const published = kids(keys);
    expect(published).toHaveLength(2);
    expect(published[0]).toBe(keys.current.kid);
    const { kid } = await keys.rotate();
    // The kid new tokens carry was in the JWKS a verifier cached before the rotation.
    expect(published[1]).toBe(kid);
  });

  it('makes a new kid current and serves the previous key until its tokens have expired', async () => {
    let now = Date.parse('2026-12-03T10:00:00Z');
    const path = keyPath();
    const keys = await loadSigningKeys(path, { tokenTtlSeconds: 600, now: () => now });
    const oldKid = keys.current.kid;
    const oldToken = await sign(keys, now / 1000);

    const rotated = await keys.rotate();
    expect(rotated).toEqual({ kid: keys.current.kid, previousKid: oldKid });
    expect(rotated.kid).not.toBe(oldKid);
    const [retired, current, next] = kids(keys);
    expect([retired, current]).toEqual([oldKid, rotated.kid]);
    expect(next).not.toBe(rotated.kid);
    expect(await verifies(keys, oldToken, now / 1000)).toBe(true);
    const newToken = await sign(keys, now / 1000);
    expect(await verifies(keys, newToken, now / 1000)).toBe(true);

    // Token lifetime + 60 s skew later the retired key is gone; a token signed with it is refused
    // (checked here at a date when it would otherwise still be inside its own exp).
    now += (600 + 60) * 1000 + 1;
    expect(kids(keys)).toEqual([rotated.kid, next]);
    expect(await verifies(keys, oldToken, Date.parse('2026-12-03T10:05:00Z') / 1000)).toBe(false);
  });

  it('persists every rotation (0600) so a restart keeps the current and the retained keys', async () => {
    const now = Date.parse('2026-12-03T10:00:00Z');
    const path = keyPath();
    const keys = await loadSigningKeys(path, { tokenTtlSeconds: 600, now: () => now });
    const first = keys.current.kid;
    const { kid } = await keys.rotate();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const reloaded = await loadSigningKeys(path, { tokenTtlSeconds: 600, now: () => now });
    expect(reloaded.current.kid).toBe(kid);
    expect(kids(reloaded)).toEqual(kids(keys));
    expect(kids(reloaded).slice(0, 2)).toEqual([first, kid]);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { keys: Array<{ kid: string; role: string }> };
    expect(file.keys.map((k) => k.role)).toEqual(['retired', 'current', 'next']);
  });

  it('drops keys past their retention from the file at the next rotation', async () => {
    let now = Date.parse('2026-12-03T10:00:00Z');
    const path = keyPath();
    const keys = await loadSigningKeys(path, { tokenTtlSeconds: 60, now: () => now });
    const first = keys.current.kid;
    const second = (await keys.rotate()).kid;
    now += 10 * 60 * 1000;
    const third = (await keys.rotate()).kid;
    const file = JSON.parse(readFileSync(path, 'utf8')) as { keys: Array<{ kid: string }> };
    expect(file.keys.map((k) => k.kid).slice(0, 2)).toEqual([second, third]);
    expect(file.keys.map((k) => k.kid)).not.toContain(first);
  });

  it('serialises concurrent rotations: each one retires the key the previous made current', async () => {
    const keys = await loadSigningKeys(keyPath(), { tokenTtlSeconds: 600 });
    const start = keys.current.kid;
    const [a, b] = await Promise.all([keys.rotate(), keys.rotate()]);
    expect(a.previousKid).toBe(start);
    expect(b.previousKid).toBe(a.kid);
    expect(keys.current.kid).toBe(b.kid);
    expect(keys.jwks().keys).toHaveLength(4);
  });

  it('upgrades a key file written before pre-publication without changing the current key', async () => {
    const path = keyPath();
    const keys = await loadSigningKeys(path, { tokenTtlSeconds: 600 });
    const file = JSON.parse(readFileSync(path, 'utf8')) as { keys: Array<Record<string, unknown>> };
    const legacy = file.keys.filter((k) => k.role === 'current').map(({ role: _role, ...k }) => k);
    writeFileSync(path, JSON.stringify({ keys: legacy }));
    const upgraded = await loadSigningKeys(path, { tokenTtlSeconds: 600 });
    expect(upgraded.current.kid).toBe(keys.current.kid);
    expect(kids(upgraded)).toHaveLength(2);
  });
});
