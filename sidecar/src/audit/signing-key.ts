import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The Ed25519 key that signs audit checkpoints. */
export interface CheckpointSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Short SHA-256 thumbprint of the public key; checkpoints name the key that signed them. */
  keyId: string;
}

/** `audit-signing-key.json` → `audit-signing-key.pub.json`: where the verifier's copy is exported. */
export function publicKeyPathFor(signingKeyPath: string): string {
  return signingKeyPath.replace(/(\.json)?$/, '.pub.json');
}

export function keyIdOf(publicKey: KeyObject): string {
  const { x } = publicKey.export({ format: 'jwk' });
  return createHash('sha256')
    .update(x ?? '')
    .digest('base64url')
    .slice(0, 16);
}

/**
 * Loads the private key (a JWK file readable by its owner only), creating it on first start,
 * and (re)writes the public key next to it so `npm run audit:verify` and auditors can check
 * checkpoints without access to the secret.
 */
export function loadOrCreateSigningKey(path: string): CheckpointSigningKey {
  let privateKey: KeyObject;
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      throw new Error(
        `audit signing key ${path} is readable by group or others (mode ${mode.toString(8)}); chmod 600 it`,
      );
    }
    privateKey = createPrivateKey({ key: JSON.parse(readFileSync(path, 'utf8')), format: 'jwk' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    privateKey = generateKeyPairSync('ed25519').privateKey;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, JSON.stringify(privateKey.export({ format: 'jwk' })), { flag: 'wx', mode: 0o600 });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`audit signing key ${path} is not Ed25519`);
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  writeFileSync(
    publicKeyPathFor(path),
    `${JSON.stringify({ ...publicKey.export({ format: 'jwk' }), kid: keyId })}\n`,
    {
      mode: 0o644,
    },
  );
  return { privateKey, publicKey, keyId };
}

/** Reads an exported public key (`*.pub.json`). */
export function readPublicKey(path: string): KeyObject {
  const { kid: _kid, ...jwk } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is not an Ed25519 public key`);
  return key;
}
