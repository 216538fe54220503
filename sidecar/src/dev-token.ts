import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PlatformConfig } from '@cpod/runtime';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';

/**
 * CORESDK_INSECURE_DEV_TOKENS=1 (development only, no JWKS URI): instead of a control plane's
 * JWKS, the sidecar verifies tokens against a key pair of its own, kept in its data dir, and
 * `dev-token-cli` mints tokens with that key. Every check of a real token still applies
 * (signature, algorithm, typ, iss, aud, lifetime, revocation), so "insecure" means "keys not
 * from an issuer", never "any token is accepted".
 */
export interface DevKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

const DEV_ALG = 'ES256';

export function devKeyPath(config: PlatformConfig): string {
  return join(config.stores('sidecar').dataDir, 'dev-token-key.json');
}

export const insecureDevWarning = (path: string) =>
  `INSECURE: CORESDK_INSECURE_DEV_TOKENS=1 and no CORESDK_JWKS_URI: tokens are verified against the local development key ${path}, not an issuer's JWKS. Never run like this outside development.`;

/** Reads the dev key, creating it on first use; the sidecar and the CLI may race and both win. */
export async function loadOrCreateDevKey(path: string): Promise<DevKey> {
  const existing = readDevKey(path);
  if (existing) return existing;
  const pair = await generateKeyPair(DEV_ALG, { extractable: true });
  const kid = `dev-${randomUUID()}`;
  const key: DevKey = {
    kid,
    privateJwk: { ...(await exportJWK(pair.privateKey)), kid, alg: DEV_ALG },
    publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: DEV_ALG, use: 'sig' },
  };
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, JSON.stringify(key, null, 2), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = readDevKey(path);
    if (winner) return winner;
    throw err;
  }
  return key;
}

function readDevKey(path: string): DevKey | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = JSON.parse(text) as DevKey;
  if (!key.kid || !key.privateJwk?.d || !key.publicJwk?.x) throw new Error(`${path} is not a dev token key`);
  return key;
}

export function devKeySet(key: DevKey) {
  return createLocalJWKSet({ keys: [key.publicJwk] });
}

export interface DevTokenClaims {
  issuer: string;
  audience: string;
  tenantId: string;
  clientId: string;
  scopes: string[];
  ttlSeconds: number;
}

/** An RFC 9068 access token shaped exactly like the control plane's, signed with the dev key. */
export async function mintDevToken(key: DevKey, claims: DevTokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    client_id: claims.clientId,
    tenant_id: claims.tenantId,
    scope: claims.scopes.join(' '),
  })
    .setProtectedHeader({ alg: DEV_ALG, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setSubject(claims.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + claims.ttlSeconds)
    .setJti(randomUUID())
    .sign(await importJWK(key.privateJwk, DEV_ALG));
}
