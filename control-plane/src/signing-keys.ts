import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';

export const SIGNING_ALG = 'RS256';

interface StoredKey {
  kid: string;
  alg: string;
  createdAt: string;
  privateJwk: JWK;
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface SigningKeys {
  /** The key new tokens are signed with. */
  current: SigningKey;
  /** Public keys served at the JWKS endpoints. */
  jwks(): { keys: JWK[] };
}

/**
 * Loads the signing key file, creating it (mode 0600) on first start so restarts keep
 * verifying tokens issued before them.
 */
export async function loadSigningKeys(path: string): Promise<SigningKeys> {
  const stored = (await readKeyFile(path)) ?? (await createKeyFile(path));
  const key = await toSigningKey(stored);
  return { current: key, jwks: () => ({ keys: [key.publicJwk] }) };
}

async function readKeyFile(path: string): Promise<StoredKey | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { keys: StoredKey[] };
    const key = parsed.keys.at(-1);
    if (!key) throw new Error(`signing key file ${path} holds no key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function createKeyFile(path: string): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
  const privateJwk = await exportJWK(privateKey);
  const stored: StoredKey = {
    kid: await calculateJwkThumbprint(privateJwk),
    alg: SIGNING_ALG,
    createdAt: new Date().toISOString(),
    privateJwk,
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Write then rename so a crash never leaves a half-written key file.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ keys: [stored] }, null, 2), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return stored;
}

async function toSigningKey(stored: StoredKey): Promise<SigningKey> {
  const privateKey = (await importJWK(stored.privateJwk, stored.alg)) as CryptoKey;
  const { kty, n, e } = stored.privateJwk;
  const publicJwk: JWK = { kty, n, e, kid: stored.kid, alg: stored.alg, use: 'sig' };
  return { kid: stored.kid, alg: stored.alg, privateKey, publicJwk };
}
