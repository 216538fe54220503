/**
 * io.jwt.decode_verify, io.jwt.verify_* and io.jwt.encode_sign(_raw), on node:crypto. Keys come as
 * PEM (public key or certificate), a JWK or a JWK set; HMAC secrets as plain strings.
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
  X509Certificate,
} from 'node:crypto';
import { BuiltinError } from '../errors.js';
import { compareNumbers, isNumber, numValue, RObject, toJSON, type Value } from '../value.js';
import { parseJSONValue } from './encoding.js';
import { type BuiltinTable, builtinErr, def, obj, str } from './types.js';

const HASH: Record<string, string> = {
  HS256: 'sha256',
  HS384: 'sha384',
  HS512: 'sha512',
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  EdDSA: '',
};

function publicKeys(cert: string): KeyObject[] {
  const text = cert.trim();
  if (text.startsWith('-----BEGIN CERTIFICATE')) return [new X509Certificate(text).publicKey];
  if (text.startsWith('-----BEGIN')) return [createPublicKey(text)];
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    return builtinErr('failed to parse a JWK key (set)');
  }
  const keys = (jwk as { keys?: unknown[] }).keys ?? [jwk];
  const out: KeyObject[] = [];
  for (const k of keys) {
    try {
      out.push(createPublicKey({ key: k as import('node:crypto').JsonWebKey, format: 'jwk' }));
    } catch {
      // A key of a type node cannot import is skipped, like a key for another algorithm.
    }
  }
  return out;
}

function b64(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

function verifyWith(alg: string, signingInput: string, sig: Buffer, key: KeyObject | string): boolean {
  const hash = HASH[alg];
  if (hash === undefined) return false;
  const data = Buffer.from(signingInput, 'utf8');
  try {
    if (alg.startsWith('HS')) {
      if (typeof key !== 'string') return false;
      const mac = createHmac(hash, Buffer.from(key, 'utf8')).update(data).digest();
      return mac.length === sig.length && timingSafeEqual(mac, sig);
    }
    if (typeof key === 'string') return false;
    if (alg === 'EdDSA') return verify(null, data, key, sig);
    if (alg.startsWith('PS')) {
      return verify(
        hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        sig,
      );
    }
    if (alg.startsWith('ES')) return verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    return verify(hash, data, key, sig);
  } catch {
    return false;
  }
}

function signatureValid(token: string, alg: string, keys: (KeyObject | string)[]): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const sig = b64(parts[2]!);
  const input = `${parts[0]}.${parts[1]}`;
  return keys.some((k) => verifyWith(alg, input, sig, k));
}

function headerOf(token: string): RObject {
  const parts = token.split('.');
  if (parts.length === 5) builtinErr('JWT is a JWE object, which is not supported');
  if (parts.length !== 3) builtinErr('encoded JWT had no period separators');
  let h: Value;
  try {
    h = parseJSONValue(b64(parts[0]!).toString('utf8'));
  } catch {
    return builtinErr('JWT header had invalid encoding: not JSON');
  }
  if (!(h instanceof RObject)) builtinErr('JWT header is not an object');
  return h;
}

/** `io.jwt.verify_<alg>(token, key)`: signature check only. */
function verifyBuiltin(alg: string) {
  return (a: Value[]) => {
    const token = str(a, 0);
    const key = str(a, 1);
    const parts = token.split('.');
    if (parts.length !== 3) builtinErr('encoded JWT had no period separators');
    return signatureValid(token, alg, alg.startsWith('HS') ? [key] : publicKeys(key));
  };
}

/** A nested token's payload is the inner JWT, either raw or as a JSON string. */
export function nestedToken(text: string): string {
  const raw = text.trim();
  if (raw.startsWith('"')) {
    try {
      const v = parseJSONValue(raw);
      if (typeof v === 'string') return v;
    } catch {
      // fall through to the error below
    }
    return builtinErr('type is JWT but payload is not JSON');
  }
  return raw;
}

const UNVERIFIED: Value = [false, new RObject(), new RObject()];

function decodeVerify(a: Value[], nowNs: bigint): Value {
  let token = str(a, 0);
  const c = obj(a, 1);
  for (const [k] of c.sorted()) {
    if (!['cert', 'secret', 'alg', 'iss', 'aud', 'time'].includes(String(k)))
      builtinErr(`unknown token validation constraint: ${String(k)}`);
  }
  const cert = c.getStr('cert');
  const secret = c.getStr('secret');
  const wantAlg = c.getStr('alg');
  const time = c.getStr('time');
  const nowSec = isNumber(time) ? Number(numValue(time)) / 1e9 : Number(nowNs) / 1e9;
  const keys: (KeyObject | string)[] = [];
  if (typeof secret === 'string') keys.push(secret);
  if (typeof cert === 'string') keys.push(...publicKeys(cert));
  if (keys.length === 0) builtinErr('no key constraint (cert or secret) given');
  // Nested tokens (cty: JWT) are verified layer by layer.
  let header: RObject;
  let payload: Value;
  for (;;) {
    header = headerOf(token);
    const alg = header.getStr('alg');
    if (typeof alg !== 'string' || HASH[alg] === undefined) return UNVERIFIED;
    if (typeof wantAlg === 'string' && wantAlg !== alg) return UNVERIFIED;
    if (header.getStr('crit') !== undefined) return UNVERIFIED;
    if (!signatureValid(token, alg, keys)) return UNVERIFIED;
    const cty = header.getStr('cty');
    const parts = token.split('.');
    const text = b64(parts[1]!).toString('utf8');
    if (typeof cty === 'string' && cty.toUpperCase() === 'JWT') {
      token = nestedToken(text);
      continue;
    }
    payload = parseJSONValue(text);
    break;
  }
  if (!(payload instanceof RObject)) return UNVERIFIED;
  const exp = payload.getStr('exp');
  if (exp !== undefined) {
    if (!isNumber(exp)) throw new BuiltinError('exp value must be a number');
    if (compareNumbers(nowSec, exp) >= 0) return UNVERIFIED;
  }
  const nbf = payload.getStr('nbf');
  if (nbf !== undefined) {
    if (!isNumber(nbf)) throw new BuiltinError('nbf value must be a number');
    if (compareNumbers(nowSec, nbf) < 0) return UNVERIFIED;
  }
  const iss = c.getStr('iss');
  if (iss !== undefined && payload.getStr('iss') !== iss) return UNVERIFIED;
  const aud = payload.getStr('aud');
  const wantAud = c.getStr('aud');
  if (aud !== undefined) {
    if (typeof wantAud !== 'string') return UNVERIFIED;
    const ok = typeof aud === 'string' ? aud === wantAud : Array.isArray(aud) && aud.includes(wantAud);
    if (!ok) return UNVERIFIED;
  } else if (wantAud !== undefined) return UNVERIFIED;
  return [true, header, payload];
}

// ---- signing ----------------------------------------------------------------------------------

function signingKey(jwkText: string, alg: string): KeyObject | Buffer {
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(jwkText) as Record<string, unknown>;
  } catch (e) {
    return builtinErr((e as Error).message);
  }
  if (alg.startsWith('HS')) {
    if (typeof jwk.k !== 'string') builtinErr('invalid JWK: missing k');
    return b64(jwk.k);
  }
  return createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
}

function encodeSign(headerText: string, payloadText: string, jwkText: string): string {
  let header: unknown;
  if (headerText === '')
    builtinErr("missing or invalid 'alg' header: cannot parse JSON: cannot parse empty string");
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    return builtinErr(
      `missing or invalid 'alg' header: cannot parse JSON: ${(e as Error).message.includes('Unexpected token') ? 'invalid character' : (e as Error).message}`,
    );
  }
  const alg = (header as { alg?: unknown }).alg;
  if (alg === undefined) builtinErr('unsupported signature algorithm');
  if (typeof alg !== 'string' || HASH[alg] === undefined) builtinErr(`unknown JWS algorithm: ${String(alg)}`);
  try {
    JSON.parse(payloadText);
  } catch {
    builtinErr('type is JWT but payload is not JSON');
  }
  const input = `${Buffer.from(headerText, 'utf8').toString('base64url')}.${Buffer.from(payloadText, 'utf8').toString('base64url')}`;
  const key = signingKey(jwkText, alg);
  const hash = HASH[alg]!;
  const data = Buffer.from(input, 'utf8');
  let sig: Buffer;
  if (alg.startsWith('HS'))
    sig = createHmac(hash, key as Buffer)
      .update(data)
      .digest();
  else if (alg === 'EdDSA') sig = sign(null, data, key as KeyObject);
  else if (alg.startsWith('PS')) {
    sig = sign(hash, data, {
      key: key as KeyObject,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  } else if (alg.startsWith('ES'))
    sig = sign(hash, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else sig = sign(hash, data, key as KeyObject);
  return `${input}.${sig.toString('base64url')}`;
}

export const jwtBuiltins: BuiltinTable = {
  'io.jwt.decode_verify': def('io.jwt.decode_verify', 2, (a, ctx) => decodeVerify(a, ctx.nowNs())),
  'io.jwt.encode_sign_raw': def('io.jwt.encode_sign_raw', 3, (a) =>
    encodeSign(str(a, 0), str(a, 1), str(a, 2)),
  ),
  'io.jwt.encode_sign': def('io.jwt.encode_sign', 3, (a) =>
    encodeSign(toJSON(obj(a, 0)), toJSON(obj(a, 1)), toJSON(obj(a, 2))),
  ),
};
for (const alg of Object.keys(HASH)) {
  const name = `io.jwt.verify_${alg.toLowerCase()}`;
  if (alg === 'EdDSA') continue;
  jwtBuiltins[name] = def(name, 2, verifyBuiltin(alg));
}
jwtBuiltins['io.jwt.verify_eddsa'] = def('io.jwt.verify_eddsa', 2, verifyBuiltin('EdDSA'));
