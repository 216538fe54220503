/**
 * Static types for the compile-time type check, modelled on OPA's `types` package and printed the
 * way OPA prints them (`number`, `array[string]`, `array<number, string>`, `set[any]`,
 * `object<a: number>`, `object[string: any]`, `any<number, string>`). `undefined` stands for a type
 * that is not known yet (an output variable); OPA prints it as `???`.
 */
import { isNumber, RObject, RSet, type Value } from './value.js';

export type SType =
  | { readonly k: 'any'; readonly of: readonly SType[] }
  | { readonly k: 'null' | 'boolean' | 'number' | 'string' }
  | { readonly k: 'array'; readonly items: readonly SType[]; readonly dyn: SType | undefined }
  | { readonly k: 'set'; readonly of: SType }
  | {
      readonly k: 'object';
      readonly props: readonly (readonly [string, SType])[];
      readonly dyn: { readonly key: SType; readonly value: SType } | undefined;
    };

export const ANY: SType = { k: 'any', of: [] };
export const NULL: SType = { k: 'null' };
export const BOOLEAN: SType = { k: 'boolean' };
export const NUMBER: SType = { k: 'number' };
export const STRING: SType = { k: 'string' };

export function arrayOf(t: SType): SType {
  return { k: 'array', items: [], dyn: t };
}

export function tupleOf(items: SType[]): SType {
  return { k: 'array', items, dyn: undefined };
}

export function setOf(t: SType): SType {
  return { k: 'set', of: t };
}

export function objectOf(key: SType, value: SType): SType {
  return { k: 'object', props: [], dyn: { key, value } };
}

/** A union; nested unions are flattened, duplicates dropped and a plain `any` absorbs the rest. */
export function anyOf(types: readonly SType[]): SType {
  const members = new Map<string, SType>();
  const add = (t: SType): boolean => {
    if (t.k === 'any') {
      if (t.of.length === 0) return false;
      for (const m of t.of) if (!add(m)) return false;
      return true;
    }
    members.set(typeString(t), t);
    return true;
  };
  for (const t of types) if (!add(t)) return ANY;
  if (members.size === 0) return ANY;
  if (members.size === 1) return members.values().next().value!;
  const sorted = [...members.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { k: 'any', of: sorted.map((e) => e[1]) };
}

export function typeString(t: SType | undefined): string {
  if (t === undefined) return '???';
  switch (t.k) {
    case 'any':
      return t.of.length === 0 ? 'any' : `any<${t.of.map(typeString).join(', ')}>`;
    case 'array': {
      let s = 'array';
      if (t.items.length > 0) s += `<${t.items.map(typeString).join(', ')}>`;
      if (t.dyn) s += `[${typeString(t.dyn)}]`;
      return s;
    }
    case 'set':
      return `set[${typeString(t.of)}]`;
    case 'object': {
      let s = 'object';
      if (t.props.length > 0) s += `<${t.props.map(([k, v]) => `${k}: ${typeString(v)}`).join(', ')}>`;
      if (t.dyn) s += `[${typeString(t.dyn.key)}: ${typeString(t.dyn.value)}]`;
      return s;
    }
    default:
      return t.k;
  }
}

/** Beyond this many members a literal's type is summarised (`array[number]`), not spelled out. */
const MAX_STATIC = 32;

function scalarType(v: Value): SType | undefined {
  if (v === null) return NULL;
  if (typeof v === 'boolean') return BOOLEAN;
  if (typeof v === 'string') return STRING;
  if (isNumber(v)) return NUMBER;
  return undefined;
}

/** Literals are shared IR values, so their types are worth keeping. */
const literalTypes = new WeakMap<object, SType>();

export function typeOfValue(v: Value): SType {
  const s = scalarType(v);
  if (s) return s;
  const obj = v as object;
  let t = literalTypes.get(obj);
  if (t === undefined) {
    t = compositeType(v);
    literalTypes.set(obj, t);
  }
  return t;
}

function compositeType(v: Value): SType {
  if (Array.isArray(v)) {
    if (v.length > MAX_STATIC) return arrayOf(anyOf(v.map(typeOfValue)));
    return tupleOf(v.map(typeOfValue));
  }
  if (v instanceof RSet) return setOf(v.size === 0 ? ANY : anyOf(v.sorted().map(typeOfValue)));
  if (v instanceof RObject) {
    const entries = v.sorted();
    const allStrings = entries.every(([k]) => typeof k === 'string');
    if (allStrings && entries.length <= MAX_STATIC) {
      return { k: 'object', props: entries.map(([k, x]) => [k as string, typeOfValue(x)]), dyn: undefined };
    }
    return objectOf(
      anyOf(entries.map(([k]) => typeOfValue(k))),
      anyOf(entries.map(([, x]) => typeOfValue(x))),
    );
  }
  return ANY;
}

/**
 * Whether some value could have both types. The checker reports an argument only when this is
 * false, so an unknown (`undefined`) or `any` type never causes an error. Like OPA, element types of
 * collections must agree even though the collection might be empty at run time.
 */
export function overlaps(a: SType | undefined, b: SType | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  if (a.k === 'any') return a.of.length === 0 || a.of.some((x) => overlaps(x, b));
  if (b.k === 'any') return b.of.length === 0 || b.of.some((x) => overlaps(a, x));
  if (a.k === 'array' && b.k === 'array') return arraysOverlap(a, b);
  if (a.k === 'set' && b.k === 'set') return overlaps(a.of, b.of);
  if (a.k === 'object' && b.k === 'object') return objectsOverlap(a, b);
  return a.k === b.k;
}

type ArrayT = SType & { k: 'array' };
type ObjectT = SType & { k: 'object' };

function arraysOverlap(a: ArrayT, b: ArrayT): boolean {
  if (a.dyn === undefined && a.items.length < b.items.length) return false;
  if (b.dyn === undefined && b.items.length < a.items.length) return false;
  const n = Math.max(a.items.length, b.items.length);
  for (let i = 0; i < n; i++) if (!overlaps(a.items[i] ?? a.dyn, b.items[i] ?? b.dyn)) return false;
  return a.dyn === undefined || b.dyn === undefined || overlaps(a.dyn, b.dyn);
}

/** The type of property `key` in `o`; `null` when `o` cannot have it. */
function propType(o: ObjectT, key: string): SType | null {
  for (const [k, t] of o.props) if (k === key) return t;
  if (o.dyn && overlaps(STRING, o.dyn.key)) return o.dyn.value;
  return null;
}

function objectsOverlap(a: ObjectT, b: ObjectT): boolean {
  for (const [k, t] of a.props) {
    const other = propType(b, k);
    if (other === null || !overlaps(t, other)) return false;
  }
  for (const [k, t] of b.props) {
    if (a.props.some(([ak]) => ak === k)) continue;
    const other = propType(a, k);
    if (other === null || !overlaps(t, other)) return false;
  }
  if (a.dyn && b.dyn) return overlaps(a.dyn.key, b.dyn.key) && overlaps(a.dyn.value, b.dyn.value);
  return true;
}

/** Element type when iterating `t` (`some x in t`, `t[_]`); `any` when unknown. */
export function elementType(t: SType | undefined): SType {
  if (t === undefined) return ANY;
  switch (t.k) {
    case 'array':
      return anyOf(t.dyn ? [...t.items, t.dyn] : t.items);
    case 'set':
      return t.of;
    case 'object':
      return anyOf([...t.props.map(([, v]) => v), ...(t.dyn ? [t.dyn.value] : [])]);
    default:
      return ANY;
  }
}

/** Key type when iterating `t` (`some k, _ in t`). */
export function keyType(t: SType | undefined): SType {
  if (t === undefined) return ANY;
  switch (t.k) {
    case 'array':
      return NUMBER;
    case 'set':
      return t.of;
    case 'object':
      return anyOf([...(t.props.length > 0 ? [STRING] : []), ...(t.dyn ? [t.dyn.key] : [])]);
    default:
      return ANY;
  }
}

/** Type of `t[key]` for a constant key; `any` where the lookup is not statically known. */
export function indexType(t: SType | undefined, key: Value): SType {
  if (t === undefined) return ANY;
  if (t.k === 'array' && typeof key === 'number' && Number.isInteger(key) && key >= 0) {
    return t.items[key] ?? t.dyn ?? ANY;
  }
  if (t.k === 'object' && typeof key === 'string') return propType(t, key) ?? ANY;
  if (t.k === 'set') return t.of;
  return ANY;
}

/** Type of member `i` of a value of type `t` being destructured by an array pattern. */
export function itemType(t: SType | undefined, i: number): SType | undefined {
  if (t === undefined || t.k !== 'array') return undefined;
  return t.items[i] ?? t.dyn;
}

// ---- signature notation --------------------------------------------------------------------

export interface Signature {
  args: SType[];
  result: SType;
}

const TOKEN = /\s*(=>|[A-Za-z_][A-Za-z0-9_]*|[<>[\](),:])/y;

/**
 * Parses the notation OPA prints, so that the signature table reads like OPA's documentation:
 * `(string, any<array[string], set[string]>) => string`.
 */
export function parseSignature(src: string): Signature {
  const toks: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.trimEnd().length) {
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`bad signature ${src}`);
    toks.push(m[1]!);
  }
  let i = 0;
  const expect = (t: string): void => {
    if (toks[i++] !== t) throw new Error(`bad signature ${src}: expected ${t}`);
  };
  const list = (close: string, item: () => void): void => {
    if (toks[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      const t = toks[i++];
      if (t === close) return;
      if (t !== ',') throw new Error(`bad signature ${src}`);
    }
  };
  const type = (): SType => {
    const name = toks[i++];
    switch (name) {
      case 'any': {
        if (toks[i] !== '<') return ANY;
        i++;
        const of: SType[] = [];
        list('>', () => of.push(type()));
        return anyOf(of);
      }
      case 'null':
        return NULL;
      case 'boolean':
        return BOOLEAN;
      case 'number':
        return NUMBER;
      case 'string':
        return STRING;
      case 'array': {
        if (toks[i] === '<') {
          i++;
          const items: SType[] = [];
          list('>', () => items.push(type()));
          return tupleOf(items);
        }
        expect('[');
        const t = type();
        expect(']');
        return arrayOf(t);
      }
      case 'set': {
        expect('[');
        const t = type();
        expect(']');
        return setOf(t);
      }
      case 'object': {
        expect('[');
        const k = type();
        expect(':');
        const v = type();
        expect(']');
        return objectOf(k, v);
      }
      default:
        throw new Error(`bad signature ${src}: unknown type ${name}`);
    }
  };
  const args: SType[] = [];
  expect('(');
  list(')', () => args.push(type()));
  expect('=>');
  const result = type();
  if (i !== toks.length) throw new Error(`bad signature ${src}: trailing input`);
  return { args, result };
}
