import type { BuiltinContext } from './builtins/types.js';
import { BuiltinError, RegoEvalError } from './errors.js';
import type { CRule, FnTarget, IExpr, IT, RuleNode } from './ir.js';
import { equal, keyOf, RObject, RSet, toRegoString, type Value } from './value.js';

type Frame = (Value | undefined)[];
/** Continuations return true to stop the search (negation and early exit need only one solution). */
type K = () => boolean;
type KV = (v: Value) => boolean;

interface Mock {
  replacement: FnTarget | undefined;
  value: Value;
}

/** Everything `with` can change; a fresh context (and rule cache) per `with` scope. */
class Ctx {
  readonly cache = new Map<RuleNode, { v: Value | undefined }>();
  readonly funcCache = new Map<RuleNode, Map<string, { v: Value | undefined }>>();

  constructor(
    public input: Value | undefined,
    public data: Value,
    public overridden: Set<RuleNode> | undefined,
    public patches: Map<RuleNode, { path: string[]; value: Value }[]> | undefined,
    public mocks: Map<string, Mock> | undefined,
  ) {}

  derive(): Ctx {
    return new Ctx(
      this.input,
      this.data,
      this.overridden && new Set(this.overridden),
      this.patches && new Map([...this.patches].map(([k, v]) => [k, [...v]])),
      this.mocks && new Map(this.mocks),
    );
  }
}

export interface EvalSettings {
  input: Value | undefined;
  data: Value;
  strict: boolean;
  deadline: number | undefined;
}

function hasRulesHere(n: RuleNode): boolean {
  return n.complete.length > 0 || n.partial.length > 0 || n.funcs.length > 0 || n.defaultRule !== undefined;
}

function lookup(v: Value, key: Value): Value | undefined {
  if (v instanceof RObject) return typeof key === 'string' ? v.getStr(key) : v.get(key);
  if (Array.isArray(v)) {
    if (typeof key === 'number') return Number.isInteger(key) && key >= 0 ? v[key] : undefined;
    return undefined;
  }
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

/** Object patterns with constant keys unify value by value; undefined when keys are not constant. */
function pairObjects(a: [IT, IT][], b: [IT, IT][]): [IT[], IT[]] | null | undefined {
  if (a.length !== b.length) return null;
  const as: IT[] = [];
  const bs: IT[] = [];
  const byKey = new Map<string, IT>();
  for (const [k, v] of b) {
    if (k.t !== 'const') return undefined;
    byKey.set(keyOf(k.v), v);
  }
  for (const [k, v] of a) {
    if (k.t !== 'const') return undefined;
    const other = byKey.get(keyOf(k.v));
    if (other === undefined) return null;
    as.push(v);
    bs.push(other);
  }
  return [as, bs];
}

function baseLookup(v: Value, key: Value): Value | undefined {
  const r = lookup(v, key);
  if (r === undefined && v instanceof RObject && (typeof key === 'number' || typeof key === 'bigint')) {
    return v.getStr(String(key));
  }
  return r;
}

/** Copy-on-write update of `v` at `path` (what `with data.a.b as x` does to base documents). */
export function setPath(v: Value | undefined, path: readonly string[], value: Value, i = 0): Value {
  if (i === path.length) return value;
  const o = v instanceof RObject ? v.clone() : new RObject();
  o.set(path[i]!, setPath(o.getStr(path[i]!), path, value, i + 1));
  return o;
}

function keyPath(keys: Value[]): string {
  return keys
    .map((k) => (typeof k === 'string' && /^[A-Za-z_]\w*$/.test(k) ? `.${k}` : `[${toRegoString(k)}]`))
    .join('');
}

function conflict(message: string, loc: string): RegoEvalError {
  return new RegoEvalError('eval_conflict_error', message, shortLoc(loc));
}

/** OPA prints eval error locations as `file:line`. */
function shortLoc(loc: string): string {
  return loc.replace(/:\d+$/, '');
}

export class Evaluator {
  private ctx: Ctx;
  private steps = 0;
  private readonly strict: boolean;
  private readonly deadline: number | undefined;
  readonly bctx: BuiltinContext;

  constructor(
    private readonly root: RuleNode,
    s: EvalSettings,
  ) {
    this.ctx = new Ctx(s.input, s.data, undefined, undefined, undefined);
    this.strict = s.strict;
    this.deadline = s.deadline;
    let now: bigint | undefined;
    this.bctx = { nowNs: () => (now ??= BigInt(Date.now()) * 1_000_000n), memo: new Map() };
  }

  // ---- entry points ------------------------------------------------------------------------

  runQuery(body: IExpr[], nslots: number, onSolution: (f: Frame) => void): void {
    const f: Frame = new Array(nslots);
    this.body(body, 0, f, () => {
      onSolution(f);
      return false;
    });
  }

  /** Value of the document at `data.<path>` (all segments constant). */
  evalPath(path: readonly string[]): Value | undefined {
    const ops: IT[] = path.map((p) => ({ t: 'const', v: p }));
    let out: Value | undefined;
    this.walkData(this.root, this.ctx.data, ops, 0, [], (v) => {
      out = v;
      return true;
    });
    return out;
  }

  evalGround(t: IT): Value | undefined {
    let out: Value | undefined;
    this.evalTerm(t, [], (v) => {
      out = v;
      return true;
    });
    return out;
  }

  // ---- bodies and expressions ----------------------------------------------------------------

  private body(b: IExpr[], i: number, f: Frame, k: K): boolean {
    if (i === b.length) return k();
    if (this.deadline !== undefined && (++this.steps & 255) === 0 && Date.now() > this.deadline) {
      throw new RegoEvalError('eval_cancel_error', 'caller cancelled query execution');
    }
    const e = b[i]!;
    if (i + 1 === b.length) return this.expr(e, f, k);
    return this.expr(e, f, () => this.body(b, i + 1, f, k));
  }

  private expr(e: IExpr, f: Frame, k: K): boolean {
    if (e.withs.length > 0) return this.withExpr(e, f, k);
    return this.exprNoWith(e, f, k);
  }

  private exprNoWith(e: IExpr, f: Frame, k: K): boolean {
    if (e.negated) {
      let found = false;
      this.exprInner(e, f, () => {
        found = true;
        return true;
      });
      return found ? false : k();
    }
    return this.exprInner(e, f, k);
  }

  private exprInner(e: IExpr, f: Frame, k: K): boolean {
    switch (e.e) {
      case 'term':
        return this.evalTerm(e.term, f, (v) => (v !== false ? k() : false));
      case 'callout':
        return this.evalCall(e.call, f, (v) => this.unifyTV(e.out, v, f, k));
      case 'unify':
        return this.unify(e.a, e.b, f, k);
      case 'somein': {
        const key = e.key;
        const value = e.value;
        return this.evalTerm(e.domain, f, (d) =>
          this.iterate(d, (kk, vv) =>
            key
              ? this.unifyTV(key, kk, f, () => this.unifyTV(value, vv, f, k))
              : this.unifyTV(value, vv, f, k),
          ),
        );
      }
      case 'every': {
        const ev = e;
        return this.evalTerm(ev.domain, f, (d) => {
          if (!(Array.isArray(d) || d instanceof RObject || d instanceof RSet)) return false;
          let all = true;
          this.iterate(d, (kk, vv) => {
            let found = false;
            const inner = () => {
              this.body(ev.body, 0, f, () => {
                found = true;
                return true;
              });
              return true;
            };
            if (ev.key) this.unifyTV(ev.key, kk, f, () => this.unifyTV(ev.value, vv, f, inner));
            else this.unifyTV(ev.value, vv, f, inner);
            if (!found) {
              all = false;
              return true;
            }
            return false;
          });
          return all ? k() : false;
        });
      }
      case 'body':
        return this.body(e.body, 0, f, k);
      case 'true':
        return k();
    }
  }

  private withExpr(e: IExpr, f: Frame, k: K): boolean {
    const values: Value[] = [];
    for (const w of e.withs) {
      if (w.replacement) {
        values.push(null);
        continue;
      }
      let got: Value | undefined;
      this.evalTerm(w.value, f, (v) => {
        got = v;
        return true;
      });
      if (got === undefined) return false;
      values.push(got);
    }
    const nctx = this.ctx.derive();
    e.withs.forEach((w, i) => {
      const val = values[i]!;
      switch (w.kind) {
        case 'input':
          nctx.input = w.path.length === 0 ? val : setPath(nctx.input, w.path, val);
          break;
        case 'data': {
          nctx.data = setPath(nctx.data, w.path, val);
          let n = this.root;
          if (w.path.length === 0) {
            nctx.overridden ??= new Set();
            nctx.overridden.add(n);
            break;
          }
          for (let j = 0; j < w.path.length; j++) {
            if (hasRulesHere(n)) {
              nctx.patches ??= new Map();
              const list = nctx.patches.get(n) ?? [];
              list.push({ path: w.path.slice(j), value: val });
              nctx.patches.set(n, list);
              break;
            }
            const c = n.children.get(w.path[j]!);
            if (!c) break;
            n = c;
            if (j === w.path.length - 1) {
              nctx.overridden ??= new Set();
              nctx.overridden.add(c);
            }
          }
          break;
        }
        case 'builtin':
        case 'func':
          nctx.mocks ??= new Map();
          nctx.mocks.set(w.key, { replacement: w.replacement, value: val });
          break;
      }
    });
    const saved = this.ctx;
    this.ctx = nctx;
    try {
      return this.exprNoWith(e, f, () => {
        this.ctx = saved;
        try {
          return k();
        } finally {
          this.ctx = nctx;
        }
      });
    } finally {
      this.ctx = saved;
    }
  }

  // ---- unification -------------------------------------------------------------------------

  private bind(slot: number, v: Value, f: Frame, k: K): boolean {
    f[slot] = v;
    const r = k();
    f[slot] = undefined;
    return r;
  }

  private isEvaluable(t: IT, f: Frame): boolean {
    switch (t.t) {
      case 'var':
        return f[t.slot] !== undefined;
      case 'array':
      case 'set':
        return t.items.every((x) => this.isEvaluable(x, f));
      case 'object':
        return t.entries.every(([a, b]) => this.isEvaluable(a, f) && this.isEvaluable(b, f));
      default:
        return true;
    }
  }

  private unify(a: IT, b: IT, f: Frame, k: K): boolean {
    if (a.t === 'var') {
      const av = f[a.slot];
      if (av === undefined) {
        if (b.t === 'var' && f[b.slot] === undefined) return false;
        return this.evalTerm(b, f, (v) => this.bind(a.slot, v, f, k));
      }
      return this.unifyTV(b, av, f, k);
    }
    if (b.t === 'var') {
      const bv = f[b.slot];
      if (bv === undefined) return this.evalTerm(a, f, (v) => this.bind(b.slot, v, f, k));
      return this.unifyTV(a, bv, f, k);
    }
    if (a.t === 'array' && b.t === 'array') {
      if (a.items.length !== b.items.length) return false;
      return this.unifyPairs(a.items, b.items, 0, f, k);
    }
    if (a.t === 'object' && b.t === 'object') {
      const pairs = pairObjects(a.entries, b.entries);
      if (pairs === null) return false;
      if (pairs !== undefined) return this.unifyPairs(pairs[0], pairs[1], 0, f, k);
    }
    if (a.t === 'const') return this.unifyTV(b, a.v, f, k);
    if (b.t === 'const') return this.unifyTV(a, b.v, f, k);
    if (this.isEvaluable(a, f)) return this.evalTerm(a, f, (v) => this.unifyTV(b, v, f, k));
    return this.evalTerm(b, f, (v) => this.unifyTV(a, v, f, k));
  }

  private unifyPairs(as: IT[], bs: IT[], i: number, f: Frame, k: K): boolean {
    if (i === as.length) return k();
    return this.unify(as[i]!, bs[i]!, f, () => this.unifyPairs(as, bs, i + 1, f, k));
  }

  /** Unifies a term (possibly with unbound vars) with a value. */
  private unifyTV(t: IT, v: Value, f: Frame, k: K): boolean {
    switch (t.t) {
      case 'const':
        return equal(t.v, v) ? k() : false;
      case 'var': {
        const cur = f[t.slot];
        if (cur === undefined) return this.bind(t.slot, v, f, k);
        return equal(cur, v) ? k() : false;
      }
      case 'array':
        if (!Array.isArray(v) || v.length !== t.items.length) return false;
        return this.unifyItems(t.items, v, 0, f, k);
      case 'object':
        if (!(v instanceof RObject) || v.size !== t.entries.length) return false;
        return this.unifyEntries(t.entries, v, 0, f, k);
      default:
        return this.evalTerm(t, f, (tv) => (equal(tv, v) ? k() : false));
    }
  }

  private unifyItems(ts: IT[], vs: Value[], i: number, f: Frame, k: K): boolean {
    if (i === ts.length) return k();
    return this.unifyTV(ts[i]!, vs[i]!, f, () => this.unifyItems(ts, vs, i + 1, f, k));
  }

  private unifyEntries(es: [IT, IT][], o: RObject, i: number, f: Frame, k: K): boolean {
    if (i === es.length) return k();
    const [kt, vt] = es[i]!;
    return this.evalTerm(kt, f, (key) => {
      const val = o.get(key);
      if (val === undefined) return false;
      return this.unifyTV(vt, val, f, () => this.unifyEntries(es, o, i + 1, f, k));
    });
  }

  // ---- terms -------------------------------------------------------------------------------

  private iterate(d: Value, cb: (k: Value, v: Value) => boolean): boolean {
    if (Array.isArray(d)) {
      for (let i = 0; i < d.length; i++) if (cb(i, d[i]!)) return true;
    } else if (d instanceof RObject) {
      for (const [kk, vv] of d.sorted()) if (cb(kk, vv)) return true;
    } else if (d instanceof RSet) {
      for (const x of d.sorted()) if (cb(x, x)) return true;
    }
    return false;
  }

  evalTerm(t: IT, f: Frame, kv: KV): boolean {
    switch (t.t) {
      case 'const':
        return kv(t.v);
      case 'var': {
        const v = f[t.slot];
        if (v === undefined) throw new RegoEvalError('eval_internal_error', `var ${t.name} is unbound`);
        return kv(v);
      }
      case 'ref':
        return this.evalRef(t, f, kv);
      case 'array':
        return this.evalItems(t.items, 0, new Array(t.items.length), f, (items) => kv(items));
      case 'set':
        return this.evalItems(t.items, 0, new Array(t.items.length), f, (items) => kv(RSet.of(items)));
      case 'object': {
        const flat: IT[] = [];
        for (const [a, b] of t.entries) flat.push(a, b);
        return this.evalItems(flat, 0, new Array(flat.length), f, (items) => {
          const o = new RObject();
          for (let i = 0; i < items.length; i += 2) o.set(items[i]!, items[i + 1]!);
          return kv(o);
        });
      }
      case 'compr': {
        const out: Value[] = [];
        const set = t.kind === 'set' ? new RSet() : undefined;
        this.body(t.body, 0, f, () =>
          this.evalTerm(t.head, f, (v) => {
            if (set) set.add(v);
            else out.push(v);
            return false;
          }),
        );
        return kv(set ?? out);
      }
      case 'ocompr': {
        const o = new RObject();
        this.body(t.body, 0, f, () =>
          this.evalTerm(t.key, f, (key) =>
            this.evalTerm(t.value, f, (val) => {
              const prev = o.get(key);
              if (prev !== undefined && !equal(prev, val)) throw conflict('object keys must be unique', '');
              o.set(key, val);
              return false;
            }),
          ),
        );
        return kv(o);
      }
      case 'call':
        return this.evalCall(t, f, kv);
    }
  }

  private evalItems(items: IT[], i: number, acc: Value[], f: Frame, k: (items: Value[]) => boolean): boolean {
    for (; i < items.length; i++) {
      const it = items[i]!;
      if (it.t === 'const') acc[i] = it.v;
      else if (it.t === 'var' && f[it.slot] !== undefined) acc[i] = f[it.slot]!;
      else {
        const j = i;
        return this.evalTerm(it, f, (v) => {
          acc[j] = v;
          return this.evalItems(items, j + 1, acc, f, k);
        });
      }
    }
    return k(acc.slice());
  }

  private evalRef(t: IT & { t: 'ref' }, f: Frame, kv: KV): boolean {
    const h = t.head;
    if (h.h === 'input') {
      const inp = this.ctx.input;
      return inp === undefined ? false : this.walk(inp, t.ops, 0, f, kv, false);
    }
    if (h.h === 'data') return this.walkData(this.root, this.ctx.data, t.ops, 0, f, kv);
    return this.evalTerm(h.term, f, (v) => this.walk(v, t.ops, 0, f, kv, false));
  }

  /** `base`: walking a base document, where `data.x[2]` also finds the JSON key "2". */
  private walk(v: Value, ops: IT[], i: number, f: Frame, kv: KV, base = true): boolean {
    const look = base ? baseLookup : lookup;
    let cur = v;
    for (; i < ops.length; i++) {
      const op = ops[i]!;
      let key: Value | undefined;
      if (op.t === 'const') key = op.v;
      else if (op.t === 'var') {
        key = f[op.slot];
        if (key === undefined) {
          const slot = op.slot;
          const j = i;
          return this.iterate(cur, (kk, vv) =>
            this.bind(slot, kk, f, () => this.walk(vv, ops, j + 1, f, kv, base)),
          );
        }
      } else {
        const j = i;
        const src = cur;
        if (this.isEvaluable(op, f)) {
          return this.evalTerm(op, f, (kk) => {
            const nv = look(src, kk);
            return nv === undefined ? false : this.walk(nv, ops, j + 1, f, kv, base);
          });
        }
        return this.iterate(src, (kk, vv) =>
          this.unifyTV(op, kk, f, () => this.walk(vv, ops, j + 1, f, kv, base)),
        );
      }
      const nv = look(cur, key);
      if (nv === undefined) return false;
      cur = nv;
    }
    return kv(cur);
  }

  private walkData(
    node: RuleNode | undefined,
    base: Value | undefined,
    ops: IT[],
    i: number,
    f: Frame,
    kv: KV,
  ): boolean {
    let n = node;
    let b = base;
    for (;;) {
      if (n === undefined || !n.hasRules || this.ctx.overridden?.has(n)) {
        return b === undefined ? false : this.walk(b, ops, i, f, kv);
      }
      if (hasRulesHere(n)) {
        if (n.arity !== undefined) return false;
        // A base document at the same path as a rule wins (as OPA's storage read does).
        if (b !== undefined) return this.walk(b, ops, i, f, kv);
        const v = this.nodeValue(n);
        return v === undefined ? false : this.walk(v, ops, i, f, kv);
      }
      if (i === ops.length) return kv(this.materialize(n, b));
      const op = ops[i]!;
      let key: Value | undefined;
      if (op.t === 'const') key = op.v;
      else if (op.t === 'var' && f[op.slot] !== undefined) key = f[op.slot];
      else {
        const tree = n;
        const tb = b;
        const j = i;
        const step = (kk: Value): boolean =>
          this.walkData(
            typeof kk === 'string' ? tree.children.get(kk) : undefined,
            tb === undefined ? undefined : baseLookup(tb, kk),
            ops,
            j + 1,
            f,
            kv,
          );
        if (this.isEvaluable(op, f)) return this.evalTerm(op, f, step);
        const keys = new Set<string>();
        for (const [name, c] of tree.children) if (c.hasRules) keys.add(name);
        if (tb instanceof RObject) for (const kk of tb.keys()) if (typeof kk === 'string') keys.add(kk);
        const sorted = [...keys].sort();
        for (const kk of sorted) if (this.unifyTV(op, kk, f, () => step(kk))) return true;
        if (tb instanceof RObject) {
          for (const kk of tb.keys())
            if (typeof kk !== 'string' && this.unifyTV(op, kk, f, () => step(kk))) return true;
        }
        return false;
      }
      n = typeof key === 'string' ? n.children.get(key) : undefined;
      b = b === undefined ? undefined : baseLookup(b, key!);
      i++;
    }
  }

  /** The full document of a package-like node: base data merged with its virtual documents. */
  private materialize(n: RuleNode, base: Value | undefined): Value {
    if (base !== undefined && !(base instanceof RObject)) return base;
    const o = base instanceof RObject ? base.clone() : new RObject();
    this.mergeChildren(n, o, base);
    return o;
  }

  private mergeChildren(n: RuleNode, o: RObject, base: Value | undefined): void {
    for (const [name, c] of n.children) {
      if (!c.hasRules || this.ctx.overridden?.has(c)) continue;
      const b = base instanceof RObject ? base.getStr(name) : undefined;
      let v: Value | undefined;
      if (hasRulesHere(c)) {
        if (c.arity !== undefined || b !== undefined) continue;
        v = this.nodeValue(c);
      } else v = this.materialize(c, b);
      if (v !== undefined) o.set(name, v);
    }
  }

  // ---- rules -------------------------------------------------------------------------------

  private nodeValue(n: RuleNode): Value | undefined {
    const cached = this.ctx.cache.get(n);
    if (cached !== undefined) return cached.v;
    let v = this.computeNode(n);
    const patches = this.ctx.patches?.get(n);
    if (patches) for (const p of patches) v = setPath(v, p.path, p.value);
    this.ctx.cache.set(n, { v });
    return v;
  }

  private computeNode(n: RuleNode): Value | undefined {
    if (n.partial.length > 0) {
      const first = n.partial[0]!;
      const root: RObject | RSet =
        first.kind === 'contains' && first.keys.length === 0 ? new RSet() : new RObject();
      for (const r of n.partial) {
        const f: Frame = new Array(r.nslots);
        this.body(r.body, 0, f, () =>
          this.evalItems(r.keys, 0, new Array(r.keys.length), f, (keys) =>
            this.evalTerm(r.value, f, (val) => {
              this.insert(root, keys, val, r);
              return false;
            }),
          ),
        );
      }
      if (root instanceof RObject && n.children.size > 0) this.mergeChildren(n, root, undefined);
      return root;
    }
    let result: Value | undefined;
    for (const r of n.complete) {
      const f: Frame = new Array(r.nslots);
      this.ruleValue(r, f, undefined, (val) => {
        if (result === undefined) result = val;
        else if (!equal(result, val)) {
          // OPA's wording changed between releases; keep both so either can be matched.
          throw conflict(
            `rule ${n.name} produced conflicting values: complete rules must not produce multiple outputs`,
            r.loc,
          );
        }
      });
    }
    if (result === undefined && n.defaultRule) result = this.evalGround(n.defaultRule.value);
    return result;
  }

  private insert(root: RObject | RSet, keys: Value[], val: Value, r: CRule): void {
    if (root instanceof RSet) {
      root.add(val);
      return;
    }
    let cur: RObject = root;
    const last = keys.length - 1;
    for (let i = 0; i < last; i++) {
      let next = cur.get(keys[i]!);
      if (next === undefined) {
        next = new RObject();
        cur.set(keys[i]!, next);
      } else if (!(next instanceof RObject)) {
        throw conflict(`rule ${r.node.name} produced conflicting values`, r.loc);
      }
      cur = next;
    }
    const k = keys[last]!;
    const prev = cur.get(k);
    if (r.kind === 'contains') {
      if (prev === undefined) cur.set(k, RSet.of([val]));
      else if (prev instanceof RSet) prev.add(val);
      else throw conflict(`rule ${r.node.name} produced conflicting values`, r.loc);
      return;
    }
    if (prev !== undefined) {
      if (!equal(prev, val)) {
        throw conflict(
          `rule ${r.node.name}${keyPath(keys)} produced conflicting values: object keys must be unique`,
          r.loc,
        );
      }
      return;
    }
    cur.set(k, val);
  }

  /** Evaluates a rule's body (then its else branches) and reports each value it produces. */
  private ruleValue(
    r: CRule,
    f: Frame,
    prefix: ((k: K) => boolean) | undefined,
    onValue: (v: Value) => void,
  ): void {
    const branches = r.elses.length === 0 ? [r] : [r, ...r.elses];
    for (const br of branches) {
      let found = false;
      const run: K = () =>
        this.body(br.body, 0, f, () =>
          this.evalTerm(br.value, f, (v) => {
            found = true;
            onValue(v);
            return r.constValue;
          }),
        );
      if (prefix) prefix(run);
      else run();
      if (found) return;
    }
  }

  private callFunc(n: RuleNode, args: Value[], loc: string): Value | undefined {
    let memo = this.ctx.funcCache.get(n);
    if (memo === undefined) {
      memo = new Map();
      this.ctx.funcCache.set(n, memo);
    }
    const key = args.length === 1 ? keyOf(args[0]!) : keyOf(args);
    const hit = memo.get(key);
    if (hit) return hit.v;
    let result: Value | undefined;
    for (const r of n.funcs) {
      const f: Frame = new Array(r.nslots);
      const params = r.args!;
      this.ruleValue(
        r,
        f,
        (k) => this.unifyItems(params, args, 0, f, k),
        (val) => {
          if (result === undefined) result = val;
          else if (!equal(result, val)) {
            throw conflict(
              `function ${n.name} produced conflicting values for the same inputs: functions must not produce multiple outputs for same inputs`,
              loc,
            );
          }
        },
      );
    }
    if (result === undefined && n.defaultRule) result = this.evalGround(n.defaultRule.value);
    memo.set(key, { v: result });
    return result;
  }

  private evalCall(t: IT & { t: 'call' }, f: Frame, kv: KV): boolean {
    if (t.order) {
      const order = t.order;
      const items = order.map((i) => t.args[i]!);
      return this.evalItems(items, 0, new Array(items.length), f, (vals) => {
        const args: Value[] = new Array(vals.length);
        for (let i = 0; i < order.length; i++) args[order[i]!] = vals[i]!;
        return this.invoke(t.fn, args, t.loc, kv);
      });
    }
    return this.evalItems(t.args, 0, new Array(t.args.length), f, (args) =>
      this.invoke(t.fn, args, t.loc, kv),
    );
  }

  private invoke(fn: FnTarget, args: Value[], loc: string, kv: KV): boolean {
    const mocks = this.ctx.mocks;
    if (mocks !== undefined) {
      const m = mocks.get(fn.name);
      if (m !== undefined) {
        if (!m.replacement) return kv(m.value);
        if (m.replacement.name !== fn.name) {
          // A replacement runs without mocks: it may call what it replaces, and OPA does not
          // let one mock call another.
          const saved = this.ctx;
          const inner = saved.derive();
          inner.mocks = undefined;
          this.ctx = inner;
          let out: Value[] | Value | undefined;
          try {
            out = this.callOnce(m.replacement, args, loc);
          } finally {
            this.ctx = saved;
          }
          return this.emit(m.replacement, out, kv);
        }
      }
    }
    return this.emit(fn, this.callOnce(fn, args, loc), kv);
  }

  private emit(fn: FnTarget, out: Value[] | Value | undefined, kv: KV): boolean {
    if (out === undefined) return false;
    if (fn.f === 'builtin' && fn.def.relation) {
      for (const v of out as Value[]) if (kv(v)) return true;
      return false;
    }
    return kv(out as Value);
  }

  private callOnce(fn: FnTarget, args: Value[], loc: string): Value | undefined {
    if (fn.f === 'user') return this.callFunc(fn.node, args, loc);
    try {
      return fn.def.fn(args, this.bctx);
    } catch (e) {
      // Anything a built-in throws (also a stray JS error) is that built-in's error, never a crash.
      if (e instanceof RegoEvalError) throw e;
      if (!this.strict) return undefined;
      const kind = e instanceof BuiltinError && e.kind === 'type' ? 'eval_type_error' : 'eval_builtin_error';
      throw new RegoEvalError(
        kind,
        `${fn.name}: ${e instanceof Error ? e.message : String(e)}`,
        shortLoc(loc),
      );
    }
  }
}
