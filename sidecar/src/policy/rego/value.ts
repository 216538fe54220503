/**
 * Rego values. Scalars are plain JS values; numbers are `number`, or `bigint` for integers outside
 * the safe range (so `9223372036854775807 + 1` stays exact, as in OPA). Arrays are plain (frozen in
 * spirit) JS arrays; sets and objects are classes keyed by a canonical string so that any value can
 * be an element or a key, with OPA's equality (1 == 1.0, structural equality of composites).
 */
export type Value = null | boolean | number | bigint | string | Value[] | RSet | RObject | RDecimal;

/**
 * A number literal that float64 cannot hold (`1e-400`, `0.1234567890123456789`), kept exact as OPA
 * keeps number text, so that it orders, compares and keys as the number it denotes. Value `coef ×
 * 10^exp` with no trailing zeros in `coef`. Arithmetic and other built-ins see `approx`. Never equal
 * to a plain number: those denote their shortest decimal text, which a decimal is only created for
 * when it differs.
 */
export class RDecimal {
  constructor(
    readonly coef: bigint,
    readonly exp: number,
    readonly approx: number,
    readonly text: string,
  ) {}

  key(): string {
    return `\u0000#d${this.coef}e${this.exp}`;
  }
}

export type Num = number | bigint | RDecimal;

/** The float / bigint view built-ins compute with. */
export function numValue(n: Num): number | bigint {
  return n instanceof RDecimal ? n.approx : n;
}

/** Exact decimal (`coef × 10^exp`, coef without trailing zeros) of decimal number text. */
export function decimalOf(text: string): { coef: bigint; exp: number } | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const frac = m[3] ?? '';
  let digits = `${m[2]}${frac}`.replace(/^0+/, '');
  let exp = Number(m[4] ?? 0) - frac.length;
  if (digits === '') return { coef: 0n, exp: 0 };
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  const coef = BigInt(digits);
  return { coef: m[1] === '-' ? -coef : coef, exp };
}

function decimalOfNum(n: number | bigint | RDecimal): { coef: bigint; exp: number } {
  if (n instanceof RDecimal) return n;
  if (typeof n === 'bigint') return decimalOf(n.toString())!;
  return decimalOf(String(n))!;
}

function digitCount(c: bigint): number {
  return (c < 0n ? -c : c).toString().length;
}

/** Exact order of two decimals, comparing magnitudes first so huge exponents stay cheap. */
function compareDecimals(a: { coef: bigint; exp: number }, b: { coef: bigint; exp: number }): number {
  const sa = a.coef > 0n ? 1 : a.coef < 0n ? -1 : 0;
  const sb = b.coef > 0n ? 1 : b.coef < 0n ? -1 : 0;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (sa === 0) return 0;
  const ma = digitCount(a.coef) + a.exp;
  const mb = digitCount(b.coef) + b.exp;
  if (ma !== mb) return (ma < mb ? -1 : 1) * sa;
  const e = Math.min(a.exp, b.exp);
  const x = a.coef * 10n ** BigInt(a.exp - e);
  const y = b.coef * 10n ** BigInt(b.exp - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Canonical key of a value: equal values have equal keys. Strings map to themselves (no allocation). */
export function keyOf(v: Value): string {
  switch (typeof v) {
    case 'string':
      return v.length > 0 && v.charCodeAt(0) === 0 ? `\u0000s${v}` : v;
    case 'number':
      return `\u0000#${Object.is(v, -0) ? 0 : v}`;
    case 'bigint':
      return `\u0000#${v}`;
    case 'boolean':
      return v ? '\u0000t' : '\u0000f';
    default:
      if (v === null) return '\u0000n';
      if (Array.isArray(v)) return arrayKey(v);
      return v.key();
  }
}

const arrayKeys = new WeakMap<Value[], string>();

function arrayKey(a: Value[]): string {
  let k = arrayKeys.get(a);
  if (k === undefined) {
    k = `\u0000a${JSON.stringify(a.map(keyOf))}`;
    arrayKeys.set(a, k);
  }
  return k;
}

export class RSet {
  readonly map: Map<string, Value>;
  private sortedCache: Value[] | undefined;
  private keyCache: string | undefined;

  constructor(map?: Map<string, Value>) {
    this.map = map ?? new Map();
  }

  static of(items: Iterable<Value>): RSet {
    const s = new RSet();
    for (const x of items) s.map.set(keyOf(x), x);
    return s;
  }

  get size(): number {
    return this.map.size;
  }

  has(v: Value): boolean {
    return this.map.has(keyOf(v));
  }

  /** Mutation is only allowed while a set is being built, before anyone reads its key or order. */
  add(v: Value): void {
    this.map.set(keyOf(v), v);
    this.sortedCache = undefined;
    this.keyCache = undefined;
  }

  /** Elements in OPA's order; sets iterate sorted, like OPA's `Set.Foreach`. */
  sorted(): Value[] {
    if (this.sortedCache === undefined) this.sortedCache = [...this.map.values()].sort(compare);
    return this.sortedCache;
  }

  key(): string {
    if (this.keyCache === undefined) this.keyCache = `\u0000S${JSON.stringify([...this.map.keys()].sort())}`;
    return this.keyCache;
  }
}

export class RObject {
  readonly map: Map<string, [Value, Value]>;
  private sortedCache: [Value, Value][] | undefined;
  private keyCache: string | undefined;

  constructor(map?: Map<string, [Value, Value]>) {
    this.map = map ?? new Map();
  }

  static fromEntries(entries: Iterable<[Value, Value]>): RObject {
    const o = new RObject();
    for (const [k, v] of entries) o.map.set(keyOf(k), [k, v]);
    return o;
  }

  get size(): number {
    return this.map.size;
  }

  get(k: Value): Value | undefined {
    return this.map.get(keyOf(k))?.[1];
  }

  /** Fast path for string keys (the common case: input and data documents). */
  getStr(k: string): Value | undefined {
    return this.map.get(k.length > 0 && k.charCodeAt(0) === 0 ? `\u0000s${k}` : k)?.[1];
  }

  has(k: Value): boolean {
    return this.map.has(keyOf(k));
  }

  set(k: Value, v: Value): void {
    this.map.set(keyOf(k), [k, v]);
    this.sortedCache = undefined;
    this.keyCache = undefined;
  }

  delete(k: Value): void {
    this.map.delete(keyOf(k));
    this.sortedCache = undefined;
    this.keyCache = undefined;
  }

  /** Entries sorted by key in OPA's order (OPA objects iterate sorted too). */
  sorted(): [Value, Value][] {
    if (this.sortedCache === undefined)
      this.sortedCache = [...this.map.values()].sort((a, b) => compare(a[0], b[0]));
    return this.sortedCache;
  }

  keys(): Value[] {
    return this.sorted().map((e) => e[0]);
  }

  key(): string {
    if (this.keyCache === undefined) {
      const parts = [...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.keyCache = `\u0000O${JSON.stringify(parts.map(([k, [, v]]) => [k, keyOf(v)]))}`;
    }
    return this.keyCache;
  }

  clone(): RObject {
    return new RObject(new Map(this.map));
  }
}

export function isObject(v: Value | undefined): v is RObject {
  return v instanceof RObject;
}
export function isSet(v: Value | undefined): v is RSet {
  return v instanceof RSet;
}
export function isNumber(v: Value | undefined): v is Num {
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof RDecimal;
}

export function typeName(v: Value): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      if (v instanceof RSet) return 'set';
      if (v instanceof RDecimal) return 'number';
      return 'object';
  }
}

function typeOrder(v: Value): number {
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    default:
      if (v === null) return 0;
      if (Array.isArray(v)) return 4;
      if (v instanceof RObject) return 5;
      if (v instanceof RDecimal) return 2;
      return 6;
  }
}

/** Go compares strings by UTF-8 bytes, which is code-point order; JS `<` compares UTF-16 units. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral code points) sort after every other BMP unit in code-point order.
      if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
      if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function compareNumbers(a: Num, b: Num): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof RDecimal || b instanceof RDecimal)
    return compareDecimals(decimalOfNum(a), decimalOfNum(b));
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  // Mixed: compare exactly when the float is integral, otherwise via floats.
  const fa = typeof a === 'number' ? a : b;
  if (typeof fa === 'number' && Number.isInteger(fa)) {
    const ba = typeof a === 'bigint' ? a : BigInt(a);
    const bb = typeof b === 'bigint' ? b : BigInt(b);
    return ba < bb ? -1 : ba > bb ? 1 : 0;
  }
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** OPA's total order: null < boolean < number < string < array < object < set. */
export function compare(a: Value, b: Value): number {
  const ta = typeOrder(a);
  const tb = typeOrder(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  switch (ta) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a === false ? -1 : 1;
    case 2:
      return compareNumbers(a as Num, b as Num);
    case 3:
      return compareStrings(a as string, b as string);
    case 4:
      return compareSeq(a as Value[], b as Value[]);
    case 5: {
      const ea = (a as RObject).sorted();
      const eb = (b as RObject).sorted();
      const n = Math.min(ea.length, eb.length);
      for (let i = 0; i < n; i++) {
        const c = compare(ea[i]![0], eb[i]![0]);
        if (c !== 0) return c;
        const d = compare(ea[i]![1], eb[i]![1]);
        if (d !== 0) return d;
      }
      return ea.length < eb.length ? -1 : ea.length > eb.length ? 1 : 0;
    }
    default:
      return compareSeq((a as RSet).sorted(), (b as RSet).sorted());
  }
}

function compareSeq(a: Value[], b: Value[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const t = typeof a;
  if (t === 'string' || t === 'boolean' || a === null || b === null) return false;
  if (t === 'number' || t === 'bigint') return isNumber(b) && compareNumbers(a as number, b) === 0;
  if (a instanceof RDecimal) return isNumber(b) && compareNumbers(a, b) === 0;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a instanceof RObject) {
    if (!(b instanceof RObject) || a.size !== b.size) return false;
    for (const [k, [, v]] of a.map) {
      const o = b.map.get(k);
      if (o === undefined || !equal(v, o[1])) return false;
    }
    return true;
  }
  if (a instanceof RSet) {
    if (!(b instanceof RSet) || a.size !== b.size) return false;
    for (const k of a.map.keys()) if (!b.map.has(k)) return false;
    return true;
  }
  return false;
}

/** Integers beyond 2^53 become bigint so they keep their exact value. */
export function normInt(b: bigint): number | bigint {
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

/** Converts a plain JS value (JSON-like) into a Rego value. */
export function fromJS(x: unknown): Value {
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x;
    case 'number':
      return Number.isFinite(x) ? x : null;
    case 'bigint':
      return normInt(x);
    case 'undefined':
      return null;
    case 'object': {
      if (x === null) return null;
      if (Array.isArray(x)) return x.map(fromJS);
      if (x instanceof RSet || x instanceof RObject || x instanceof RDecimal) return x;
      if (x instanceof Set) return RSet.of([...x].map(fromJS));
      if (x instanceof Map) return RObject.fromEntries([...x].map(([k, v]) => [fromJS(k), fromJS(v)]));
      const maybeJson = x as { toJSON?: () => unknown };
      if (typeof maybeJson.toJSON === 'function') return fromJS(maybeJson.toJSON());
      const o = new RObject();
      for (const k of Object.keys(x)) {
        const v = (x as Record<string, unknown>)[k];
        if (v !== undefined) o.set(k, fromJS(v));
      }
      return o;
    }
    default:
      return null;
  }
}

/**
 * Converts a Rego value to plain JS: sets become arrays sorted in OPA's order, objects become plain
 * objects (non-string keys are rendered as their JSON text, as OPA does when it serialises), integers
 * outside the safe range stay `bigint`.
 */
export function toJS(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toJS);
  if (v instanceof RSet) return v.sorted().map(toJS);
  if (v instanceof RDecimal) return v.approx;
  const out: Record<string, unknown> = {};
  for (const [k, val] of v.sorted()) out[typeof k === 'string' ? k : toJSON(k)] = toJS(val);
  return out;
}

/** Number text as Go's json encoder / OPA prints it. */
export function formatNumber(n: Num): string {
  if (typeof n === 'bigint') return n.toString();
  if (n instanceof RDecimal) return n.text;
  if (Object.is(n, -0)) return '0';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  const s = String(n);
  return s.replace(/e\+?/, 'e+').replace('e+-', 'e-');
}

function quoteJSON(s: string): string {
  // Go's encoder escapes <, > and & in HTML-safe mode; OPA's json.marshal does not.
  return JSON.stringify(s);
}

/** JSON text of a value; sets are arrays, object keys sorted. */
export function toJSON(v: Value): string {
  switch (typeof v) {
    case 'string':
      return quoteJSON(v);
    case 'number':
    case 'bigint':
      return formatNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return `[${v.map(toJSON).join(',')}]`;
      if (v instanceof RSet) return `[${v.sorted().map(toJSON).join(',')}]`;
      if (v instanceof RDecimal) return v.text;
      return `{${v
        .sorted()
        .map(([k, val]) => `${quoteJSON(typeof k === 'string' ? k : toJSON(k))}:${toJSON(val)}`)
        .join(',')}}`;
  }
}

/** Rego literal text of a value (OPA's `Term.String()`), used by sprintf %v and error messages. */
export function toRegoString(v: Value): string {
  switch (typeof v) {
    case 'string':
      return quoteJSON(v);
    case 'number':
    case 'bigint':
      return formatNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return `[${v.map(toRegoString).join(', ')}]`;
      if (v instanceof RSet) return v.size === 0 ? 'set()' : `{${v.sorted().map(toRegoString).join(', ')}}`;
      if (v instanceof RDecimal) return v.text;
      return `{${v
        .sorted()
        .map(([k, val]) => `${toRegoString(k)}: ${toRegoString(val)}`)
        .join(', ')}}`;
  }
}

export const EMPTY_OBJECT = new RObject();
