/** uuid.*, semver.* and units.* built-ins. */
import { createHash, randomUUID } from 'node:crypto';
import { normInt, RObject, type Value } from '../value.js';
import { type BuiltinTable, builtinErr, def, str } from './types.js';

const UUID =
  /^(?:urn:uuid:)?\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?$/;

function parseUUID(s: string): RObject | undefined {
  const m = UUID.exec(s);
  if (!m) return undefined;
  const hex = m.slice(1).join('').toLowerCase();
  const version = Number.parseInt(hex[12]!, 16);
  const variantBits = Number.parseInt(hex[16]!, 16);
  const variant =
    (variantBits & 0x8) === 0
      ? 'Reserved, NCS backward compatibility.'
      : (variantBits & 0xc) === 0x8
        ? 'RFC4122'
        : (variantBits & 0xe) === 0xc
          ? 'Reserved, Microsoft Corporation backward compatibility.'
          : 'Reserved for future definition.';
  const o = new RObject();
  o.set('version', version);
  o.set('variant', variant);
  if (version === 1 || version === 2) {
    const timeLow = BigInt(`0x${hex.slice(0, 8)}`);
    const timeMid = BigInt(`0x${hex.slice(8, 12)}`);
    const timeHi = BigInt(`0x${hex.slice(13, 16)}`);
    const ts = (timeHi << 48n) | (timeMid << 32n) | timeLow;
    // 100ns intervals since 1582-10-15 → ns since the Unix epoch.
    const unixNs = (ts - 122192928000000000n) * 100n;
    o.set('time', normInt(unixNs));
    const clock = Number.parseInt(hex.slice(16, 20), 16) & 0x3fff;
    o.set('clocksequence', clock);
    const first = Number.parseInt(hex.slice(20, 22), 16);
    o.set('macvariables', `${first & 2 ? 'local' : 'global'}:${first & 1 ? 'multicast' : 'unicast'}`);
    o.set('nodeid', hex.slice(20).match(/../g)!.join('-'));
    if (version === 2) {
      o.set('id', Number(timeLow));
      o.set(
        'domain',
        ['Person', 'Group', 'Org'][Number.parseInt(hex.slice(18, 20), 16)] ??
          `Domain${Number.parseInt(hex.slice(18, 20), 16)}`,
      );
    }
  }
  return o;
}

// ---- semver (semver.org 2.0.0) ---------------------------------------------------------------

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function cmpBig(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function semverCompare(a: string, b: string): number {
  const x = SEMVER.exec(a)!;
  const y = SEMVER.exec(b)!;
  for (let i = 1; i <= 3; i++) {
    const c = cmpBig(x[i]!, y[i]!);
    if (c !== 0) return c;
  }
  const pa = x[4];
  const pb = y[4];
  if (pa === undefined && pb === undefined) return 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  const as = pa.split('.');
  const bs = pb.split('.');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const p = as[i]!;
    const q = bs[i]!;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    let c: number;
    if (pn && qn) c = cmpBig(p, q);
    else if (pn) c = -1;
    else if (qn) c = 1;
    else c = p < q ? -1 : p > q ? 1 : 0;
    if (c !== 0) return c;
  }
  return as.length < bs.length ? -1 : as.length > bs.length ? 1 : 0;
}

// ---- units ----------------------------------------------------------------------------------

const SI: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const BIN: Record<string, number> = {
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
  ti: 2 ** 40,
  pi: 2 ** 50,
  ei: 2 ** 60,
};

function parseAmount(s: string, bytes: boolean): Value {
  const what = bytes ? 'byte amount' : 'amount';
  if (s.includes(' ')) builtinErr('spaces not allowed in resource strings');
  const raw = s.replace(/^"|"$/g, '');
  const m = /^([-+]?[0-9.]*(?:[eE][-+]?\d+)?)(.*)$/.exec(raw)!;
  const [, numText, unitRaw] = m as unknown as [string, string, string];
  if (numText === '' || numText === '+' || numText === '-') builtinErr(`no ${what} provided`);
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(numText))
    builtinErr(`could not parse ${what} to a number`);
  const unit = unitRaw;
  let mult: number | undefined;
  const lower = unit.toLowerCase();
  if (bytes) {
    const u = lower.replace(/b$/, '');
    mult = u === '' ? 1 : (BIN[u] ?? SI[u.toUpperCase()]);
  } else if (lower.endsWith('i')) mult = BIN[lower];
  else if (unit === 'm') mult = 1e-3;
  else mult = SI[unit.toUpperCase()];
  if (mult === undefined) builtinErr(`could not parse ${what} to a number`);
  const n = Number(numText);
  if (!Number.isFinite(n)) builtinErr(`exponent too large`);
  // Dividing by 1000 for milli avoids 350 * 0.001 = 0.35000000000000003.
  const v = mult < 1 ? n / Math.round(1 / mult) : n * mult;
  if (bytes) {
    const r = Math.round(v);
    return Number.isSafeInteger(r) ? r : normInt(BigInt(r));
  }
  return Number.isInteger(v) && !Number.isSafeInteger(v) ? normInt(BigInt(v)) : v;
}

export const miscBuiltins: BuiltinTable = {
  'uuid.rfc4122': def('uuid.rfc4122', 1, (a, ctx) => {
    // Same seed, same UUID within one evaluation (OPA caches per query).
    const seed = str(a, 0);
    const key = `uuid:${seed}`;
    const hit = ctx.memo.get(key);
    if (hit !== undefined) return hit;
    const h = createHash('sha256').update(`${ctx.nowNs()}:${seed}:${randomBase}`).digest('hex');
    const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    const v = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    ctx.memo.set(key, v);
    return v;
  }),
  'uuid.parse': def('uuid.parse', 1, (a) => parseUUID(str(a, 0))),
  'semver.is_valid': def('semver.is_valid', 1, (a) => typeof a[0] === 'string' && SEMVER.test(a[0])),
  'semver.compare': def('semver.compare', 2, (a) => {
    const x = str(a, 0);
    const y = str(a, 1);
    if (!SEMVER.test(x)) builtinErr(`operand 1: string ${JSON.stringify(x)} is not a valid SemVer`);
    if (!SEMVER.test(y)) builtinErr(`operand 2: string ${JSON.stringify(y)} is not a valid SemVer`);
    return semverCompare(x, y);
  }),
  'units.parse': def('units.parse', 1, (a) => parseAmount(str(a, 0), false)),
  'units.parse_bytes': def('units.parse_bytes', 1, (a) => parseAmount(str(a, 0), true)),
};

const randomBase = randomUUID();
