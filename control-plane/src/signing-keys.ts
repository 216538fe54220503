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
/** Clock skew the sidecar tolerates on `exp`; a retired key outlives its last token by this much. */
const SKEW_SECONDS = 60;

/**
 * `next` is published in the JWKS before it signs anything, so verifiers that cached the JWKS
 * already hold it when a rotation makes it current: no window in which fresh tokens carry a kid
 * the sidecar has not seen (its JWKS refetch on an unknown kid is rate-limited).
 */
type KeyRole = 'retired' | 'current' | 'next';

interface StoredKey {
  kid: string;
  alg: string;
  createdAt: string;
  /** Files written before pre-publication have no role: the last key is current, the rest retired. */
  role?: KeyRole;
  /** When a newer key took over. */
  retiredAt?: string;
  privateJwk: JWK;
}

export interface SigningKey {
  kid: string;
  alg: string;
  role: KeyRole;
  createdAt: string;
  retiredAt: string | undefined;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface SigningKeys {
  /** The key new tokens are signed with. */
  readonly current: SigningKey;
  /** Public keys served at the JWKS endpoints: current, next, and retired keys still verifying tokens. */
  jwks(): { keys: JWK[] };
  /**
   * Makes the pre-published next key current and publishes a fresh next key; the previous current
   * key stays in the JWKS until its last token has expired.
   */
  rotate(): Promise<{ kid: string; previousKid: string }>;
}

export interface SigningKeyOptions {
  /** Longest access-token lifetime: how long a retired key must keep verifying. */
  tokenTtlSeconds: number;
  now?: () => number;
}

/**
 * Loads the signing key file, creating it (mode 0600) on first start so restarts keep
 * verifying tokens issued before them. The file holds the current key last, and retired
 * keys until every token they signed has expired.
 */
export async function loadSigningKeys(path: string, options: SigningKeyOptions): Promise<SigningKeys> {
  const now = options.now ?? Date.now;
  const retentionMs = (options.tokenTtlSeconds + SKEW_SECONDS) * 1000;
  const retained = (k: { retiredAt?: string | undefined }) =>
    k.retiredAt === undefined || Date.parse(k.retiredAt) + retentionMs > now();

  const onDisk = withRoles((await readKeyFile(path)) ?? []);
  let stored = onDisk;
  if (!stored.some((k) => k.role === 'current')) stored = [await newStoredKey(now, 'current')];
  if (!stored.some((k) => k.role === 'next')) stored = [...stored, await newStoredKey(now, 'next')];
  if (stored !== onDisk) await writeKeyFile(path, stored);
  let keys = await Promise.all(stored.map(toSigningKey));
  let rotating: Promise<unknown> = Promise.resolve();

  const rotateNow = async () => {
    const retiredAt = new Date(now()).toISOString();
    const previous = stored.find((k) => k.role === 'current') as StoredKey;
    const promoted = stored.find((k) => k.role === 'next') as StoredKey;
    const updated: StoredKey[] = [
      ...stored.filter((k) => k.role === 'retired' && retained(k)),
      { ...previous, role: 'retired', retiredAt },
      { ...promoted, role: 'current' },
      await newStoredKey(now, 'next'),
    ];
    // Persist first: a crash after this point restarts with the new keys, never with a lost one.
    await writeKeyFile(path, updated);
    stored = updated;
    keys = await Promise.all(updated.map(toSigningKey));
    return { kid: promoted.kid, previousKid: previous.kid };
  };

  return {
    get current() {
      return keys.find((k) => k.role === 'current') as SigningKey;
    },
    jwks: () => ({ keys: keys.filter(retained).map((k) => k.publicJwk) }),
    rotate: () => {
      const result = rotating.then(rotateNow);
      rotating = result.catch(() => undefined);
      return result;
    },
  };
}

function withRoles(keys: StoredKey[]): StoredKey[] {
  if (keys.every((k) => k.role !== undefined)) return keys;
  return keys.map((k, i) => ({ ...k, role: k.role ?? (i === keys.length - 1 ? 'current' : 'retired') }));
}

async function readKeyFile(path: string): Promise<StoredKey[] | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { keys: StoredKey[] };
    if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) {
      throw new Error(`signing key file ${path} holds no key`);
    }
    return parsed.keys;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function newStoredKey(now: () => number, role: KeyRole): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
  const privateJwk = await exportJWK(privateKey);
  return {
    kid: await calculateJwkThumbprint(privateJwk),
    alg: SIGNING_ALG,
    role,
    createdAt: new Date(now()).toISOString(),
    privateJwk,
  };
}

async function writeKeyFile(path: string, keys: StoredKey[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Write then rename so a crash never leaves a half-written key file.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ keys }, null, 2), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

async function toSigningKey(stored: StoredKey): Promise<SigningKey> {
  const privateKey = (await importJWK(stored.privateJwk, stored.alg)) as CryptoKey;
  const { kty, n, e } = stored.privateJwk;
  const publicJwk: JWK = { kty, n, e, kid: stored.kid, alg: stored.alg, use: 'sig' };
  return {
    kid: stored.kid,
    alg: stored.alg,
    role: stored.role ?? 'current',
    createdAt: stored.createdAt,
    retiredAt: stored.retiredAt,
    privateKey,
    publicJwk,
  };
}
