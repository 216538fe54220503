/** base64, hex, JSON, YAML and URL query built-ins. */
import YAML from 'yaml';
import type { Term } from '../ast.js';
import { parseTerm } from '../parser.js';
import { fromJS, RDecimal, RObject, RSet, toJSON, type Value } from '../value.js';
import { type BuiltinTable, builtinErr, def, obj, str, typeErr } from './types.js';

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function decodeB64(s: string, url: boolean, name: string): string {
  const re = url ? B64URL : B64;
  const stripped = s.replace(/=+$/, '');
  const padded = stripped.length % 4;
  const okPadding = url ? s.length % 4 === 0 || !s.includes('=') : s.length % 4 === 0;
  if (!re.test(s) || padded === 1 || !okPadding)
    builtinErr(`illegal base64 data at input byte ${firstBad(s, re)}`);
  void name;
  return Buffer.from(stripped, url ? 'base64url' : 'base64').toString('utf8');
}

function firstBad(s: string, re: RegExp): number {
  for (let i = 0; i < s.length; i++) if (!re.test(s.slice(0, i + 1).replace(/=+$/, ''))) return i;
  return s.length;
}

/** Ground JSON-like term (from our own parser) to a value; keeps big integers exact. */
function termToValue(t: Term): Value {
  switch (t.type) {
    case 'scalar':
      return t.value;
    case 'array':
      return t.items.map(termToValue);
    case 'object': {
      const o = new RObject();
      for (const [k, v] of t.entries) {
        const key = termToValue(k);
        if (typeof key !== 'string') throw new SyntaxError('object key must be string');
        o.set(key, termToValue(v));
      }
      return o;
    }
    case 'call':
      // `-1` parses as a literal; anything else is not JSON.
      throw new SyntaxError('invalid JSON');
    default:
      throw new SyntaxError('invalid JSON');
  }
}

/** JSON text to a value; integers beyond 2^53 stay exact (JSON.parse would round them). */
export function parseJSONValue(text: string): Value {
  const parsed: unknown = JSON.parse(text);
  if (/\d{16,}/.test(text)) return termToValue(parseTerm(text, 'json'));
  return fromJS(parsed);
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function queryUnescape(s: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(s))
    builtinErr(
      `invalid URL escape ${JSON.stringify(s.slice(s.search(/%(?![0-9A-Fa-f]{2})/), s.search(/%(?![0-9A-Fa-f]{2})/) + 3))}`,
    );
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return Buffer.from(
      s
        .replace(/\+/g, ' ')
        .replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
}

function yamlToValue(text: string): Value {
  const docs = YAML.parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) if (d.errors.length > 0) throw new Error(d.errors[0]!.message);
  if (list.length === 0) return null;
  return fromJS(list[0]!.toJS({ maxAliasCount: 100 }));
}

function toPlain(v: Value): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? Number(v) : v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof RSet) return v.sorted().map(toPlain);
  if (v instanceof RDecimal) return v.approx;
  const out: Record<string, unknown> = {};
  for (const [k, x] of v.sorted()) out[typeof k === 'string' ? k : toJSON(k)] = toPlain(x);
  return out;
}

export const encodingBuiltins: BuiltinTable = {
  'base64.encode': def('base64.encode', 1, (a) => Buffer.from(str(a, 0), 'utf8').toString('base64')),
  'base64.decode': def('base64.decode', 1, (a) => decodeB64(str(a, 0), false, 'base64.decode')),
  'base64.is_valid': def('base64.is_valid', 1, (a) => {
    const s = str(a, 0);
    return B64.test(s) && s.length % 4 === 0;
  }),
  'base64url.encode': def('base64url.encode', 1, (a) => {
    const raw = Buffer.from(str(a, 0), 'utf8').toString('base64url');
    return raw + '='.repeat((4 - (raw.length % 4)) % 4);
  }),
  'base64url.encode_no_pad': def('base64url.encode_no_pad', 1, (a) =>
    Buffer.from(str(a, 0), 'utf8').toString('base64url'),
  ),
  'base64url.decode': def('base64url.decode', 1, (a) => decodeB64(str(a, 0), true, 'base64url.decode')),
  'hex.encode': def('hex.encode', 1, (a) => Buffer.from(str(a, 0), 'utf8').toString('hex')),
  'hex.decode': def('hex.decode', 1, (a) => {
    const s = str(a, 0);
    const bad = s.search(/[^0-9a-fA-F]/);
    if (bad >= 0)
      builtinErr(
        `encoding/hex: invalid byte: U+${s.charCodeAt(bad).toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(s[bad]).replace(/"/g, "'")}`,
      );
    if (s.length % 2 !== 0) builtinErr('encoding/hex: odd length hex string');
    return Buffer.from(s, 'hex').toString('utf8');
  }),
  'json.marshal': def('json.marshal', 1, (a) => toJSON(a[0]!)),
  'json.marshal_with_options': def('json.marshal_with_options', 2, (a) => {
    const opts = obj(a, 1);
    const pretty =
      opts.getStr('pretty') === true ||
      opts.getStr('indent') !== undefined ||
      opts.getStr('prefix') !== undefined;
    if (!pretty) return toJSON(a[0]!);
    const indent = opts.getStr('indent');
    const prefix = opts.getStr('prefix');
    const text = JSON.stringify(toPlain(a[0]!), null, typeof indent === 'string' ? indent : '\t');
    const p = typeof prefix === 'string' ? prefix : '';
    return text
      .split('\n')
      .map((l) => p + l)
      .join('\n');
  }),
  'json.unmarshal': def('json.unmarshal', 1, (a) => {
    try {
      return parseJSONValue(str(a, 0));
    } catch (e) {
      return builtinErr((e as Error).message);
    }
  }),
  'json.is_valid': def('json.is_valid', 1, (a) => {
    if (typeof a[0] !== 'string') return false;
    try {
      JSON.parse(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  'yaml.marshal': def('yaml.marshal', 1, (a) => YAML.stringify(toPlain(a[0]!))),
  'yaml.unmarshal': def('yaml.unmarshal', 1, (a) => {
    try {
      return yamlToValue(str(a, 0));
    } catch (e) {
      return builtinErr((e as Error).message);
    }
  }),
  'yaml.is_valid': def('yaml.is_valid', 1, (a) => {
    if (typeof a[0] !== 'string') return false;
    try {
      yamlToValue(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  'urlquery.encode': def('urlquery.encode', 1, (a) => queryEscape(str(a, 0))),
  'urlquery.decode': def('urlquery.decode', 1, (a) => queryUnescape(str(a, 0))),
  'urlquery.encode_object': def('urlquery.encode_object', 1, (a) => {
    const o = obj(a, 0);
    const parts: string[] = [];
    for (const [k, v] of o.sorted()) {
      if (typeof k !== 'string') typeErr(1, 'object[string: string|array|set]', o);
      const vals =
        typeof v === 'string' ? [v] : Array.isArray(v) ? v : v instanceof RSet ? v.sorted() : undefined;
      if (!vals) return typeErr(1, 'object[string: string|array|set]', o);
      for (const x of vals) {
        if (typeof x !== 'string') typeErr(1, 'object[string: string|array|set]', o);
        parts.push(`${queryEscape(k)}=${queryEscape(x as string)}`);
      }
    }
    return parts.join('&');
  }),
  'urlquery.decode_object': def('urlquery.decode_object', 1, (a) => {
    const s = str(a, 0);
    const out = new RObject();
    for (const part of s.split(/[&]/)) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const k = queryUnescape(eq < 0 ? part : part.slice(0, eq));
      const v = eq < 0 ? '' : queryUnescape(part.slice(eq + 1));
      const prev = out.getStr(k);
      out.set(k, [...((prev as Value[] | undefined) ?? []), v]);
    }
    return out;
  }),
};
