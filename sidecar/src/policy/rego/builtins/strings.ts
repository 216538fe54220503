import { BuiltinError } from '../errors.js';
import { isNumber, numValue, RSet, toRegoString, type Value } from '../value.js';
import { intOf } from './numbers.js';
import { arr, type BuiltinTable, builtinErr, collection, def, int, num, obj, str, typeErr } from './types.js';

function runes(s: string): string[] {
  return Array.from(s);
}

function trimSet(s: string, cut: string, left: boolean, right: boolean): string {
  const cs = new Set(runes(cut));
  const r = runes(s);
  let i = 0;
  let j = r.length;
  if (left) while (i < j && cs.has(r[i]!)) i++;
  if (right) while (j > i && cs.has(r[j - 1]!)) j--;
  return r.slice(i, j).join('');
}

// Go's unicode.IsSpace.
const SPACE =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

function indexOfRunes(s: string, sub: string, from = 0): number {
  const idx = s.indexOf(sub, from);
  if (idx < 0) return -1;
  return runes(s.slice(0, idx)).length;
}

/** Go's strconv.Quote for %q. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Go's %v / %g shortest formatting of a float64. */
export function goFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) {
    const [m, e] = n.toExponential().split('e') as [string, string];
    const exp = Number(e);
    const sign = exp < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** `big`: beyond int64, where OPA passes a *big.Int, which formats its digits even under %s. */
type FmtArg =
  | { kind: 'int'; v: bigint; big: boolean }
  | { kind: 'float'; v: number }
  | { kind: 'str'; v: string };

function toFmtArg(v: Value): FmtArg {
  if (typeof v === 'string') return { kind: 'str', v };
  if (isNumber(v)) {
    const n = numValue(v);
    const i = intOf(n);
    if (i !== undefined)
      return { kind: 'int', v: i, big: i > 9223372036854775807n || i < -9223372036854775808n };
    return { kind: 'float', v: Number(n) };
  }
  return { kind: 'str', v: toRegoString(v) };
}

function pad(s: string, width: number | undefined, minus: boolean, zero: boolean): string {
  if (width === undefined || s.length >= width) return s;
  if (minus) return s.padEnd(width, ' ');
  if (zero) {
    const neg = s.startsWith('-') || s.startsWith('+');
    const body = neg ? s.slice(1) : s;
    return (neg ? s[0] : '') + body.padStart(width - (neg ? 1 : 0), '0');
  }
  return s.padStart(width, ' ');
}

function bad(verb: string, a: FmtArg): string {
  const type = a.kind === 'int' ? 'int' : a.kind === 'float' ? 'float64' : 'string';
  const val = a.kind === 'float' ? goFloat(a.v) : String(a.v);
  return `%!${verb}(${type}=${val})`;
}

/** A subset of Go's fmt.Sprintf, as OPA's sprintf passes numbers as int/float64 and the rest as strings. */
export function goSprintf(format: string, values: Value[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    i++;
    let minus = false;
    let plus = false;
    let zero = false;
    let space = false;
    let sharp = false;
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') minus = true;
      else if (f === '+') plus = true;
      else if (f === '0') zero = true;
      else if (f === ' ') space = true;
      else if (f === '#') sharp = true;
      else break;
    }
    let width: number | undefined;
    let w = '';
    while (i < format.length && /[0-9]/.test(format[i]!)) w += format[i++];
    if (w) width = Number(w);
    let prec: number | undefined;
    if (format[i] === '.') {
      i++;
      let p = '';
      while (i < format.length && /[0-9]/.test(format[i]!)) p += format[i++];
      prec = p ? Number(p) : 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= values.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const a = toFmtArg(values[argi++]!);
    let s: string;
    const signed = (t: string, neg: boolean) => (neg ? t : plus ? `+${t}` : space ? ` ${t}` : t);
    switch (verb) {
      case 'v':
      case 's':
        if (a.kind === 'str') s = prec !== undefined ? runes(a.v).slice(0, prec).join('') : a.v;
        else if (verb === 's' && !(a.kind === 'int' && a.big)) s = bad('s', a);
        else if (a.kind === 'int') s = signed(a.v.toString(), a.v < 0n);
        else s = signed(goFloat(a.v), a.v < 0);
        break;
      case 'd':
        s = a.kind === 'int' ? signed(a.v.toString(), a.v < 0n) : bad('d', a);
        break;
      case 'q':
        s =
          a.kind === 'str'
            ? goQuote(a.v)
            : a.kind === 'int'
              ? `'${String.fromCodePoint(Number(a.v))}'`
              : bad('q', a);
        break;
      case 'f':
      case 'F':
        if (a.kind === 'float') s = signed(a.v.toFixed(prec ?? 6), a.v < 0);
        else s = bad(verb, a);
        break;
      case 'e':
      case 'E':
        if (a.kind === 'float') {
          const [m, e] = a.v.toExponential(prec ?? 6).split('e') as [string, string];
          const exp = Number(e);
          s = signed(`${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`, a.v < 0);
          if (verb === 'E') s = s.toUpperCase();
        } else s = bad(verb, a);
        break;
      case 'g':
      case 'G':
        s =
          a.kind === 'float'
            ? signed(prec !== undefined ? String(Number(a.v.toPrecision(prec || 1))) : goFloat(a.v), a.v < 0)
            : bad(verb, a);
        break;
      case 'x':
      case 'X': {
        if (a.kind === 'int')
          s = (a.v < 0n ? '-' : '') + (sharp ? '0x' : '') + (a.v < 0n ? -a.v : a.v).toString(16);
        else if (a.kind === 'str') s = Buffer.from(a.v, 'utf8').toString('hex');
        else s = bad(verb, a);
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 'o':
        s = a.kind === 'int' ? a.v.toString(8) : bad('o', a);
        break;
      case 'b':
        s = a.kind === 'int' ? a.v.toString(2) : bad('b', a);
        break;
      case 't':
        s = a.kind === 'str' && (a.v === 'true' || a.v === 'false') ? a.v : bad('t', a);
        break;
      default:
        s = `%!${verb}(${a.kind === 'str' ? 'string' : a.kind === 'int' ? 'int' : 'float64'}=${a.v})`;
    }
    out += pad(s, width, minus, zero && verb !== 's' && verb !== 'v' && verb !== 'q');
  }
  if (argi < values.length) {
    out += `%!(EXTRA ${values
      .slice(argi)
      .map((v) => {
        const a = toFmtArg(v);
        return `${a.kind === 'str' ? 'string' : a.kind === 'int' ? 'int' : 'float64'}=${a.kind === 'float' ? goFloat(a.v) : a.v}`;
      })
      .join(', ')})`;
  }
  return out;
}

/** Go's strings.NewReplacer: at each position the first matching old string (argument order) wins. */
function replaceN(pairs: [string, string][], s: string): string {
  let out = '';
  let i = 0;
  const emptyNew = pairs.find(([o]) => o === '');
  while (i <= s.length) {
    if (emptyNew) out += emptyNew[1];
    let matched = false;
    for (const [o, n] of pairs) {
      if (o !== '' && s.startsWith(o, i)) {
        out += n;
        i += o.length;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (i < s.length) {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out += ch;
      i += ch.length;
    } else break;
  }
  return out;
}

function stringsOrCollection(args: Value[], i: number): string[] {
  const v = args[i]!;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) || v instanceof RSet) {
    const xs = Array.isArray(v) ? v : v.sorted();
    for (const x of xs) {
      if (typeof x !== 'string') {
        throw new BuiltinError(
          `operand ${i + 1} must be ${Array.isArray(v) ? 'array' : 'set'} of strings but got ${Array.isArray(v) ? 'array' : 'set'} containing ${typeName(x)}`,
          'type',
        );
      }
    }
    return xs as string[];
  }
  return typeErr(i + 1, 'one of {string, set, array}', v);
}

function typeName(v: Value): string {
  if (typeof v === 'string') return 'string';
  if (isNumber(v)) return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof RSet) return 'set';
  return 'object';
}

export const stringBuiltins: BuiltinTable = {
  concat: def('concat', 2, (a) => {
    const d = str(a, 0);
    const xs = collection(a, 1, 'one of {set, array}');
    for (const x of xs) if (typeof x !== 'string') typeErr(2, 'one of {set, array}', a[1]!);
    return (xs as string[]).join(d);
  }),
  contains: def('contains', 2, (a) => str(a, 0).includes(str(a, 1))),
  startswith: def('startswith', 2, (a) => str(a, 0).startsWith(str(a, 1))),
  endswith: def('endswith', 2, (a) => str(a, 0).endsWith(str(a, 1))),
  lower: def('lower', 1, (a) => str(a, 0).toLowerCase()),
  upper: def('upper', 1, (a) => str(a, 0).toUpperCase()),
  split: def('split', 2, (a) => {
    const s = str(a, 0);
    const d = str(a, 1);
    return d === '' ? runes(s) : s.split(d);
  }),
  replace: def('replace', 3, (a) => {
    const s = str(a, 0);
    const o = str(a, 1);
    const n = str(a, 2);
    if (o === '') return replaceN([['', n]], s);
    return s.split(o).join(n);
  }),
  trim: def('trim', 2, (a) => trimSet(str(a, 0), str(a, 1), true, true)),
  trim_left: def('trim_left', 2, (a) => trimSet(str(a, 0), str(a, 1), true, false)),
  trim_right: def('trim_right', 2, (a) => trimSet(str(a, 0), str(a, 1), false, true)),
  trim_prefix: def('trim_prefix', 2, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return s.startsWith(p) ? s.slice(p.length) : s;
  }),
  trim_suffix: def('trim_suffix', 2, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
  }),
  trim_space: def('trim_space', 1, (a) => str(a, 0).replace(SPACE, '')),
  substring: def('substring', 3, (a) => {
    const r = runes(str(a, 0));
    const start = int(a, 1);
    const len = int(a, 2);
    if (start < 0) builtinErr('negative offset');
    if (start >= r.length) return '';
    if (len < 0) return r.slice(start).join('');
    return r.slice(start, start + len).join('');
  }),
  indexof: def('indexof', 2, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    if (sub === '') builtinErr('empty search character');
    return indexOfRunes(s, sub);
  }),
  indexof_n: def('indexof_n', 2, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    if (sub === '') builtinErr('empty search character');
    const out: Value[] = [];
    let from = s.indexOf(sub);
    while (from >= 0) {
      out.push(runes(s.slice(0, from)).length);
      from = s.indexOf(sub, from + 1);
    }
    return out;
  }),
  sprintf: def('sprintf', 2, (a) => goSprintf(str(a, 0), arr(a, 1))),
  format_int: def('format_int', 2, (a) => {
    const n = num(a, 0);
    const base = int(a, 1);
    if (![2, 8, 10, 16].includes(base)) builtinErr('operand 2 must be one of {2, 8, 10, 16}');
    const i = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
    return i.toString(base);
  }),
  'strings.replace_n': def('strings.replace_n', 2, (a) => {
    const o = obj(a, 0);
    const s = str(a, 1);
    const pairs: [string, string][] = [];
    for (const [k, v] of o.sorted()) {
      if (typeof k !== 'string')
        throw new BuiltinError('operand 1 non-string key found in pattern object', 'type');
      if (typeof v !== 'string')
        throw new BuiltinError('operand 1 non-string value found in pattern object', 'type');
      pairs.push([k, v]);
    }
    return replaceN(pairs, s);
  }),
  'strings.split_n': def('strings.split_n', 3, (a) => {
    const s = str(a, 0);
    const d = str(a, 1);
    const n = int(a, 2);
    const parts = d === '' ? runes(s) : s.split(d);
    return n >= 0 ? parts.slice(0, n) : parts.slice(Math.max(0, parts.length + n));
  }),
  'strings.reverse': def('strings.reverse', 1, (a) => runes(str(a, 0)).reverse().join('')),
  'strings.count': def('strings.count', 2, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    if (sub === '') return runes(s).length + 1;
    return s.split(sub).length - 1;
  }),
  'strings.any_prefix_match': def('strings.any_prefix_match', 2, (a) => {
    const xs = stringsOrCollection(a, 0);
    const ps = stringsOrCollection(a, 1);
    return xs.some((x) => ps.some((p) => x.startsWith(p)));
  }),
  'strings.any_suffix_match': def('strings.any_suffix_match', 2, (a) => {
    const xs = stringsOrCollection(a, 0);
    const ps = stringsOrCollection(a, 1);
    return xs.some((x) => ps.some((p) => x.endsWith(p)));
  }),
  'strings.render_template': def('strings.render_template', 2, (a) => {
    const tpl = str(a, 0);
    const vars = obj(a, 1);
    return tpl.replace(/\{\{\s*\.([A-Za-z_][\w]*)\s*\}\}/g, (_m, name: string) => {
      const v = vars.getStr(name);
      if (v === undefined) return '<no value>';
      return typeof v === 'string' ? v : toRegoString(v);
    });
  }),
};
