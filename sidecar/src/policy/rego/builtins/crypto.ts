/** crypto.* digests and HMACs, and io.jwt.decode; all through node:crypto. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { RObject, type Value } from '../value.js';
import { parseJSONValue } from './encoding.js';
import { type BuiltinTable, builtinErr, def, str } from './types.js';

const digest = (alg: string) => (a: Value[]) => createHash(alg).update(str(a, 0), 'utf8').digest('hex');
const hmac = (alg: string) => (a: Value[]) =>
  createHmac(alg, Buffer.from(str(a, 1), 'utf8'))
    .update(str(a, 0), 'utf8')
    .digest('hex');

const B64URL_RAW = /^[A-Za-z0-9_-]*={0,2}$/;

function b64urlBytes(s: string, what: string): Buffer {
  const stripped = s.replace(/=+$/, '');
  if (!B64URL_RAW.test(s) || stripped.length % 4 === 1) {
    let bad = 0;
    while (bad < s.length && /[A-Za-z0-9_-]/.test(s[bad]!)) bad++;
    builtinErr(`JWT ${what} had invalid encoding: illegal base64 data at input byte ${bad}`);
  }
  return Buffer.from(stripped, 'base64url');
}

export function decodeJWT(token: string): [Value, Value, Value] {
  const parts = token.split('.');
  if (parts.length === 1) builtinErr('encoded JWT had no period separators');
  if (parts.length === 5) builtinErr('JWT is a JWE object, which is not supported');
  if (parts.length !== 3) builtinErr(`encoded JWT must have 3 sections, found ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  let header: Value;
  try {
    header = parseJSONValue(b64urlBytes(h, 'header').toString('utf8'));
  } catch (e) {
    if (e instanceof Error && e.name === 'BuiltinError') throw e;
    return builtinErr('JWT header had invalid encoding: not JSON');
  }
  if (!(header instanceof RObject)) builtinErr('JWT header is not an object');
  if (header.getStr('enc') !== undefined) builtinErr('JWT is a JWE object, which is not supported');
  const payloadText = b64urlBytes(p, 'payload').toString('utf8');
  const cty = header.getStr('cty');
  if (typeof cty === 'string' && cty.toUpperCase() === 'JWT') {
    const raw = payloadText.trim();
    if (!raw.startsWith('"')) return decodeJWT(raw);
    let inner: Value;
    try {
      inner = parseJSONValue(raw);
    } catch {
      return builtinErr('type is JWT but payload is not JSON');
    }
    if (typeof inner !== 'string') builtinErr('type is JWT but payload is not JSON');
    return decodeJWT(inner);
  }
  let payload: Value;
  try {
    payload = parseJSONValue(payloadText);
  } catch {
    return builtinErr('JWT payload had invalid encoding: not JSON');
  }
  if (!(payload instanceof RObject)) builtinErr('JWT payload is not an object');
  const sig = b64urlBytes(s, 'signature').toString('hex');
  return [header, payload, sig];
}

export const cryptoBuiltins: BuiltinTable = {
  'crypto.md5': def('crypto.md5', 1, digest('md5')),
  'crypto.sha1': def('crypto.sha1', 1, digest('sha1')),
  'crypto.sha256': def('crypto.sha256', 1, digest('sha256')),
  'crypto.sha512': def('crypto.sha512', 1, digest('sha512')),
  'crypto.hmac.md5': def('crypto.hmac.md5', 2, hmac('md5')),
  'crypto.hmac.sha1': def('crypto.hmac.sha1', 2, hmac('sha1')),
  'crypto.hmac.sha256': def('crypto.hmac.sha256', 2, hmac('sha256')),
  'crypto.hmac.sha512': def('crypto.hmac.sha512', 2, hmac('sha512')),
  'crypto.hmac.equal': def('crypto.hmac.equal', 2, (a) => {
    const x = Buffer.from(str(a, 0), 'utf8');
    const y = Buffer.from(str(a, 1), 'utf8');
    return x.length === y.length && timingSafeEqual(x, y);
  }),
  'io.jwt.decode': def('io.jwt.decode', 1, (a) => decodeJWT(str(a, 0))),
};
