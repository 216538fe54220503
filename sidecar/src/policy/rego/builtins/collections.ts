import { BuiltinError } from '../errors.js';
import {
  compare,
  equal,
  isNumber,
  keyOf,
  numValue,
  RObject,
  RSet,
  toJSON,
  typeName,
  type Value,
} from '../value.js';
import { add, mul } from './numbers.js';
import { arr, type BuiltinTable, builtinErr, collection, def, int, obj, set, typeErr } from './types.js';

function member(x: Value, c: Value): boolean {
  if (Array.isArray(c)) return c.some((e) => equal(e, x));
  if (c instanceof RSet) return c.has(x);
  if (c instanceof RObject) {
    for (const [, v] of c.map.values()) if (equal(v, x)) return true;
  }
  return false;
}

function intersect(sets: RSet[]): RSet {
  if (sets.length === 0) return new RSet();
  const [first, ...rest] = sets;
  const out = new RSet();
  for (const [k, v] of first!.map) if (rest.every((s) => s.map.has(k))) out.map.set(k, v);
  return out;
}

function unionOf(sets: RSet[]): RSet {
  const out = new RSet();
  for (const s of sets) for (const [k, v] of s.map) out.map.set(k, v);
  return out;
}

function setOfSets(args: Value[], i: number): RSet[] {
  const s = set(args, i);
  const out: RSet[] = [];
  for (const x of s.sorted()) {
    if (!(x instanceof RSet)) typeErr(i + 1, 'set of sets', s);
    out.push(x);
  }
  return out;
}

function numbersOf(args: Value[], i: number): (number | bigint)[] {
  const xs = collection(args, i, 'one of {array, set}');
  return xs.map((x) => (isNumber(x) ? numValue(x) : typeErr(i + 1, 'one of {array, set}', args[i]!)));
}

/** Deep merge used by object.union: values that are both objects merge, otherwise b wins. */
function mergeObjects(a: RObject, b: RObject): RObject {
  const out = a.clone();
  for (const [k, [kk, bv]] of b.map) {
    const av = out.map.get(k)?.[1];
    if (av instanceof RObject && bv instanceof RObject) out.map.set(k, [kk, mergeObjects(av, bv)]);
    else out.map.set(k, [kk, bv]);
  }
  return out;
}

/** Keys for object.remove / object.filter: an array, set or object (its keys). */
function keysArg(args: Value[], i: number): Value[] {
  const v = args[i]!;
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.sorted();
  if (v instanceof RObject) return v.keys();
  return typeErr(i + 1, 'one of {object, set, array}', v);
}

function isSubset(sup: Value, sub: Value): boolean {
  if (sup instanceof RObject && sub instanceof RObject) {
    for (const [k, [, sv]] of sub.map) {
      const pv = sup.map.get(k)?.[1];
      if (pv === undefined) return false;
      if (pv instanceof RObject && sv instanceof RObject) {
        if (!isSubset(pv, sv)) return false;
      } else if (pv instanceof RSet && sv instanceof RSet) {
        if (!isSubset(pv, sv)) return false;
      } else if (Array.isArray(pv) && Array.isArray(sv)) {
        if (!isSubset(pv, sv)) return false;
      } else if (!equal(pv, sv)) return false;
    }
    return true;
  }
  if (sup instanceof RSet && sub instanceof RSet) {
    for (const k of sub.map.keys()) if (!sup.map.has(k)) return false;
    return true;
  }
  if (Array.isArray(sup) && Array.isArray(sub)) {
    // A sub-array must appear contiguously.
    if (sub.length === 0) return true;
    for (let i = 0; i + sub.length <= sup.length; i++) {
      let ok = true;
      for (let j = 0; j < sub.length; j++) {
        if (!equal(sup[i + j]!, sub[j]!)) {
          ok = false;
          break;
        }
      }
      if (ok) return true;
    }
    return false;
  }
  if (Array.isArray(sup) && sub instanceof RSet) {
    return sub.sorted().every((x) => sup.some((y) => equal(x, y)));
  }
  return equal(sup, sub);
}

/** Paths of json.remove / json.filter as a trie: `"a/b"` or `["a", "b"]`; `null` marks a path end. */
type PathTrie = Map<string, PathTrie | null>;

function pathTrie(args: Value[], i: number): PathTrie {
  const v = args[i]!;
  if (!Array.isArray(v) && !(v instanceof RSet)) typeErr(i + 1, 'one of {set, array}', v);
  const trie: PathTrie = new Map();
  for (const p of Array.isArray(v) ? v : v.sorted()) {
    let segs: string[];
    if (typeof p === 'string') segs = p.replace(/^\//, '').split('/');
    else if (Array.isArray(p)) segs = p.map((x) => (typeof x === 'string' ? x : toJSON(x)));
    else {
      throw new BuiltinError(
        `operand ${i + 1} must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`,
        'type',
      );
    }
    let node = trie;
    for (let j = 0; j < segs.length; j++) {
      const seg = segs[j]!;
      const last = j === segs.length - 1;
      const cur = node.get(seg);
      if (last || cur === null) {
        node.set(seg, null);
        break;
      }
      let next = cur;
      if (next === undefined) {
        next = new Map();
        node.set(seg, next);
      }
      node = next;
    }
  }
  return trie;
}

function segOf(k: Value): string {
  return typeof k === 'string' ? k : toJSON(k);
}

function removePaths(v: Value, trie: PathTrie): Value {
  if (v instanceof RObject) {
    const out = new RObject();
    for (const [k, x] of v.sorted()) {
      const t = trie.get(segOf(k));
      if (t === null) continue;
      out.set(k, t === undefined ? x : removePaths(x, t));
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, idx) => {
      const t = trie.get(String(idx));
      if (t === null) return;
      out.push(t === undefined ? x : removePaths(x, t));
    });
    return out;
  }
  return v;
}

function filterPaths(v: Value, trie: PathTrie): Value {
  if (v instanceof RObject) {
    const out = new RObject();
    for (const [k, x] of v.sorted()) {
      const t = trie.get(segOf(k));
      if (t === undefined) continue;
      out.set(k, t === null ? x : filterPaths(x, t));
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, idx) => {
      const t = trie.get(String(idx));
      if (t === undefined) return;
      out.push(t === null ? x : filterPaths(x, t));
    });
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    for (const x of v.sorted()) {
      const t = trie.get(segOf(x));
      if (t !== undefined) out.add(x);
    }
    return out;
  }
  return v;
}

function neighbours(graph: RObject, node: Value): Value[] | undefined {
  const e = graph.get(node);
  if (e === undefined) return undefined;
  if (e === null) return [];
  if (Array.isArray(e)) return e;
  if (e instanceof RSet) return e.sorted();
  return [];
}

function reachable(graph: RObject, initial: Value[]): RSet {
  const reached = new RSet();
  const queue = [...initial];
  while (queue.length > 0) {
    const n = queue.shift()!;
    if (reached.has(n)) continue;
    const edges = neighbours(graph, n);
    if (edges === undefined) continue;
    reached.add(n);
    queue.push(...edges);
  }
  return reached;
}

function reachablePaths(graph: RObject, initial: Value[]): RSet {
  const out = new RSet();
  const walk = (n: Value, path: Value[]) => {
    const edges = neighbours(graph, n);
    if (edges === undefined) {
      if (path.length > 0) out.add(path);
      return;
    }
    const next = [...path, n];
    const open = edges.filter((e) => !next.some((p) => equal(p, e)));
    if (open.length === 0) out.add(next);
    for (const e of open) walk(e, next);
  };
  for (const n of initial) walk(n, []);
  return out;
}

export const collectionBuiltins: BuiltinTable = {
  'graph.reachable': def('graph.reachable', 2, (a) => reachable(obj(a, 0), collection(a, 1))),
  'graph.reachable_paths': def('graph.reachable_paths', 2, (a) =>
    reachablePaths(obj(a, 0), collection(a, 1)),
  ),
  'json.remove': def('json.remove', 2, (a) => removePaths(obj(a, 0), pathTrie(a, 1))),
  'json.filter': def('json.filter', 2, (a) => filterPaths(obj(a, 0), pathTrie(a, 1))),
  equal: def('equal', 2, (a) => equal(a[0]!, a[1]!)),
  neq: def('neq', 2, (a) => !equal(a[0]!, a[1]!)),
  lt: def('lt', 2, (a) => compare(a[0]!, a[1]!) < 0),
  lte: def('lte', 2, (a) => compare(a[0]!, a[1]!) <= 0),
  gt: def('gt', 2, (a) => compare(a[0]!, a[1]!) > 0),
  gte: def('gte', 2, (a) => compare(a[0]!, a[1]!) >= 0),
  'internal.member_2': def('internal.member_2', 2, (a) => member(a[0]!, a[1]!)),
  'internal.member_3': def('internal.member_3', 3, (a) => {
    const [k, v, c] = a as [Value, Value, Value];
    if (Array.isArray(c))
      return typeof k === 'number' && Number.isInteger(k) && k >= 0 && k < c.length && equal(c[k]!, v);
    if (c instanceof RObject) {
      const x = c.get(k);
      return x !== undefined && equal(x, v);
    }
    return false;
  }),
  and: def('and', 2, (a) => intersect([set(a, 0), set(a, 1)])),
  or: def('or', 2, (a) => unionOf([set(a, 0), set(a, 1)])),
  intersection: def('intersection', 1, (a) => intersect(setOfSets(a, 0))),
  union: def('union', 1, (a) => unionOf(setOfSets(a, 0))),

  count: def('count', 1, (a) => {
    const v = a[0]!;
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (v instanceof RSet || v instanceof RObject) return v.size;
    return typeErr(1, 'one of {array, object, set, string}', v);
  }),
  sum: def('sum', 1, (a) => numbersOf(a, 0).reduce<number | bigint>((s, x) => add(s, x), 0)),
  product: def('product', 1, (a) => numbersOf(a, 0).reduce<number | bigint>((s, x) => mul(s, x), 1)),
  max: def('max', 1, (a) => {
    const xs = collection(a, 0);
    if (xs.length === 0) return undefined;
    return xs.reduce((m, x) => (compare(x, m) > 0 ? x : m));
  }),
  min: def('min', 1, (a) => {
    const xs = collection(a, 0);
    if (xs.length === 0) return undefined;
    return xs.reduce((m, x) => (compare(x, m) < 0 ? x : m));
  }),
  sort: def('sort', 1, (a) => [...collection(a, 0)].sort(compare)),
  all: def('all', 1, (a) => collection(a, 0).every((x) => x === true)),
  any: def('any', 1, (a) => collection(a, 0).some((x) => x === true)),

  'array.concat': def('array.concat', 2, (a) => [...arr(a, 0), ...arr(a, 1)]),
  'array.slice': def('array.slice', 3, (a) => {
    const xs = arr(a, 0);
    let start = int(a, 1);
    let stop = int(a, 2);
    if (start < 0) start = 0;
    if (stop > xs.length) stop = xs.length;
    if (start >= stop) return [];
    return xs.slice(start, stop);
  }),
  'array.flatten': def('array.flatten', 1, (a) => arr(a, 0).flatMap((x) => (Array.isArray(x) ? x : [x]))),
  'array.reverse': def('array.reverse', 1, (a) => [...arr(a, 0)].reverse()),

  'object.get': def('object.get', 3, (a) => {
    const o = obj(a, 0);
    const key = a[1]!;
    const dflt = a[2]!;
    if (Array.isArray(key)) {
      let cur: Value = o;
      for (const seg of key) {
        let next: Value | undefined;
        if (cur instanceof RObject) next = cur.get(seg);
        else if (Array.isArray(cur))
          next = typeof seg === 'number' && Number.isInteger(seg) ? cur[seg] : undefined;
        else if (cur instanceof RSet) next = cur.has(seg) ? seg : undefined;
        if (next === undefined) return dflt;
        cur = next;
      }
      return cur;
    }
    return o.get(key) ?? dflt;
  }),
  'object.keys': def('object.keys', 1, (a) => RSet.of(obj(a, 0).keys())),
  'object.remove': def('object.remove', 2, (a) => {
    const o = obj(a, 0).clone();
    for (const k of keysArg(a, 1)) o.delete(k);
    return o;
  }),
  'object.filter': def('object.filter', 2, (a) => {
    const o = obj(a, 0);
    const out = new RObject();
    for (const k of keysArg(a, 1)) {
      const e = o.map.get(keyOf(k));
      if (e) out.map.set(keyOf(k), e);
    }
    return out;
  }),
  'object.union': def('object.union', 2, (a) => mergeObjects(obj(a, 0), obj(a, 1))),
  'object.union_n': def('object.union_n', 1, (a) => {
    const xs = arr(a, 0);
    let out = new RObject();
    for (const x of xs) {
      if (!(x instanceof RObject)) typeErr(1, 'array of objects', a[0]!);
      out = mergeObjects(out, x);
    }
    return out;
  }),
  'object.subset': def('object.subset', 2, (a) => {
    const sup = a[0]!;
    const sub = a[1]!;
    const ok = (v: Value) => v instanceof RObject || v instanceof RSet || Array.isArray(v);
    if (!ok(sup)) typeErr(1, 'one of {object, set, array}', sup);
    if (!ok(sub)) typeErr(2, 'one of {object, set, array}', sub);
    return isSubset(sup, sub);
  }),
  walk: {
    name: 'walk',
    arity: 1,
    relation: true,
    fn: (a) => {
      const out: Value[] = [];
      const visit = (path: Value[], v: Value) => {
        out.push([path, v]);
        if (Array.isArray(v)) for (let i = 0; i < v.length; i++) visit([...path, i], v[i]!);
        else if (v instanceof RObject) for (const [k, x] of v.sorted()) visit([...path, k], x);
        else if (v instanceof RSet) for (const x of v.sorted()) visit([...path, x], x);
      };
      visit([], a[0]!);
      return out;
    },
  },
  // Known to OPA but not served here: present so that `with http.send as mock` compiles; unmocked
  // calls fail like a network error would.
  'http.send': def('http.send', 1, () => builtinErr('http.send is not supported by this engine')),
  'opa.runtime': def('opa.runtime', 0, () => new RObject()),
  // `print` is accepted so that policies with debug output compile; it prints nothing here.
  print: def('print', -1, () => true),
  'internal.print': def('internal.print', 1, () => true),
};
