/**
 * Compile-time type check of built-in calls and operators, after OPA's `rego_type_error`s:
 *
 *   m.rego:3:6: rego_type_error: plus: invalid argument(s)
 *   	have: (number, string, ???)
 *   	want: (number, number, number)
 *
 * Types are known for literals, results of built-ins and local variables bound to those; `input`,
 * `data` (and so rule values), function arguments and comprehensions are `any`. A call is reported
 * only when an argument can never have the wanted type (element types of literal collections
 * included, as in OPA), so a call that depends on input is never rejected. Runs over the compiled IR
 * once per compile, never at evaluation.
 */
import { builtinSignature } from './builtins/signatures.js';
import type { CRule, IExpr, IT } from './ir.js';
import {
  ANY,
  anyOf,
  arrayOf,
  elementType,
  indexType,
  itemType,
  keyType,
  objectOf,
  overlaps,
  type SType,
  setOf,
  tupleOf,
  typeOfValue,
  typeString,
} from './static-types.js';

export type TypeErrorSink = (message: string, location: string) => void;

/** Where a call's result goes: nowhere (`startswith(a, b)`), a nested term, or an output operand. */
type CallSite = { kind: 'bare' } | { kind: 'nested' } | { kind: 'out'; out: IT };

const BARE: CallSite = { kind: 'bare' };
const NESTED: CallSite = { kind: 'nested' };

/**
 * One frame (a rule or a query): slot types as they become known, in body order (bodies are already
 * reordered so that bindings come before uses).
 */
class FrameChecker {
  private readonly slots: (SType | undefined)[] = [];

  constructor(
    private readonly report: TypeErrorSink,
    /** Built-ins replaced with `with` somewhere: their real signature may not apply. */
    private readonly mocked: ReadonlySet<string>,
  ) {}

  rule(r: CRule): void {
    for (const a of r.args ?? []) this.markAny(a);
    this.body(r.body);
    for (const k of r.keys) this.type(k);
    if (r.value.t !== 'const') this.type(r.value);
    for (const e of r.elses) {
      this.body(e.body);
      if (e.value.t !== 'const') this.type(e.value);
    }
  }

  body(exprs: IExpr[]): void {
    for (const e of exprs) this.expr(e);
  }

  private expr(e: IExpr): void {
    switch (e.e) {
      case 'term':
        if (e.term.t === 'call') this.call(e.term, BARE);
        else this.type(e.term);
        break;
      case 'callout': {
        const result = this.call(e.call, { kind: 'out', out: e.out });
        this.bind(e.out, result);
        break;
      }
      case 'unify': {
        const ta = this.type(e.a);
        const tb = this.type(e.b);
        this.bind(e.a, tb);
        this.bind(e.b, ta);
        break;
      }
      case 'somein':
      case 'every': {
        const td = this.type(e.domain);
        if (e.key) this.bind(e.key, keyType(td));
        this.bind(e.value, elementType(td));
        if (e.e === 'every') this.body(e.body);
        break;
      }
      case 'body':
        this.body(e.body);
        break;
      case 'true':
        break;
    }
    for (const w of e.withs) this.type(w.value);
    // Whatever an expression binds is bound once it has run; what we could not type is `any`.
    this.markExpr(e);
  }

  /** Static type of a term, checking the calls inside it; `undefined` for a still-unbound var. */
  private type(t: IT): SType | undefined {
    switch (t.t) {
      case 'const':
        return typeOfValue(t.v);
      case 'var':
        return this.slots[t.slot];
      case 'ref': {
        let cur: SType | undefined = t.head.h === 'term' ? this.type(t.head.term) : ANY;
        for (const op of t.ops) {
          if (op.t === 'const') cur = indexType(cur, op.v);
          else {
            this.type(op);
            this.bind(op, keyType(cur));
            cur = elementType(cur);
          }
        }
        return cur ?? ANY;
      }
      case 'array':
        return tupleOf(t.items.map((x) => this.type(x) ?? ANY));
      case 'set':
        return setOf(anyOf(t.items.map((x) => this.type(x) ?? ANY)));
      case 'object': {
        const props: [string, SType][] = [];
        let dynamic = false;
        for (const [k, v] of t.entries) {
          this.type(k);
          const tv = this.type(v) ?? ANY;
          if (k.t === 'const' && typeof k.v === 'string' && !props.some(([pk]) => pk === k.v))
            props.push([k.v, tv]);
          else dynamic = true;
        }
        if (dynamic) return objectOf(ANY, ANY);
        props.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        return { k: 'object', props, dyn: undefined };
      }
      case 'compr':
        this.body(t.body);
        this.type(t.head);
        // Element types of comprehensions are left open, as the body may produce anything.
        return t.kind === 'array' ? arrayOf(ANY) : setOf(ANY);
      case 'ocompr':
        this.body(t.body);
        this.type(t.key);
        this.type(t.value);
        return objectOf(ANY, ANY);
      case 'call':
        return this.call(t, NESTED);
    }
  }

  private call(c: IT & { t: 'call' }, site: CallSite): SType {
    const have: (SType | undefined)[] = c.args.map((a) => this.type(a));
    if (c.fn.f !== 'builtin' || this.mocked.has(c.fn.name)) return ANY;
    const sig = builtinSignature(c.fn.name);
    // Arity errors are reported by the compiler.
    if (sig === undefined || sig.args.length !== c.args.length) return sig?.result ?? ANY;
    if (site.kind === 'nested') have.push(undefined);
    else if (site.kind === 'out') have.push(this.type(site.out));
    const want = [...sig.args, sig.result];
    for (let i = 0; i < have.length; i++) {
      if (!overlaps(have[i], want[i])) {
        this.report(
          `rego_type_error: ${c.fn.name}: invalid argument(s)\n\thave: (${have.map(typeString).join(', ')})\n\twant: (${want.map(typeString).join(', ')})`,
          c.loc,
        );
        break;
      }
    }
    return sig.result;
  }

  /** Gives unbound vars of a pattern the parts of `t` they will hold. */
  private bind(p: IT, t: SType | undefined): void {
    if (t === undefined) return;
    if (p.t === 'var') {
      if (this.slots[p.slot] === undefined) this.slots[p.slot] = t;
    } else if (p.t === 'array') {
      p.items.forEach((x, i) => {
        this.bind(x, itemType(t, i));
      });
    } else if (p.t === 'object') {
      for (const [k, v] of p.entries) if (k.t === 'const') this.bind(v, indexType(t, k.v));
    }
  }

  private markAny(t: IT): void {
    switch (t.t) {
      case 'var':
        this.slots[t.slot] ??= ANY;
        break;
      case 'ref':
        if (t.head.h === 'term') this.markAny(t.head.term);
        for (const o of t.ops) this.markAny(o);
        break;
      case 'array':
      case 'set':
        for (const x of t.items) this.markAny(x);
        break;
      case 'object':
        for (const [k, v] of t.entries) {
          this.markAny(k);
          this.markAny(v);
        }
        break;
      case 'call':
        for (const a of t.args) this.markAny(a);
        break;
      default:
        // Comprehension bodies were marked as they were checked; consts have no vars.
        break;
    }
  }

  private markExpr(e: IExpr): void {
    switch (e.e) {
      case 'term':
        this.markAny(e.term);
        break;
      case 'callout':
        this.markAny(e.call);
        this.markAny(e.out);
        break;
      case 'unify':
        this.markAny(e.a);
        this.markAny(e.b);
        break;
      case 'somein':
      case 'every':
        if (e.key) this.markAny(e.key);
        this.markAny(e.value);
        this.markAny(e.domain);
        break;
      default:
        break;
    }
  }
}

/** Built-ins named as `with` targets in these rules and query. */
export function collectMocked(rules: Iterable<CRule>, query: IExpr[] = []): Set<string> {
  const into = new Set<string>();
  const visitT = (t: IT): void => {
    switch (t.t) {
      case 'compr':
        visitB(t.body);
        visitT(t.head);
        break;
      case 'ocompr':
        visitB(t.body);
        visitT(t.key);
        visitT(t.value);
        break;
      case 'ref':
        if (t.head.h === 'term') visitT(t.head.term);
        for (const o of t.ops) visitT(o);
        break;
      case 'array':
      case 'set':
        for (const x of t.items) visitT(x);
        break;
      case 'object':
        for (const [k, v] of t.entries) {
          visitT(k);
          visitT(v);
        }
        break;
      case 'call':
        for (const a of t.args) visitT(a);
        break;
      default:
        break;
    }
  };
  const visitB = (b: IExpr[]): void => {
    for (const e of b) {
      for (const w of e.withs) {
        if (w.kind === 'builtin') into.add(w.key);
        visitT(w.value);
      }
      switch (e.e) {
        case 'term':
          visitT(e.term);
          break;
        case 'callout':
          visitT(e.call);
          visitT(e.out);
          break;
        case 'unify':
          visitT(e.a);
          visitT(e.b);
          break;
        case 'somein':
          visitT(e.domain);
          break;
        case 'every':
          visitT(e.domain);
          visitB(e.body);
          break;
        case 'body':
          visitB(e.body);
          break;
        default:
          break;
      }
    }
  };
  for (const r of rules) {
    visitB(r.body);
    for (const k of r.keys) visitT(k);
    visitT(r.value);
    for (const e of r.elses) {
      visitB(e.body);
      visitT(e.value);
    }
  }
  visitB(query);
  return into;
}

export function typeCheckRule(r: CRule, mocked: ReadonlySet<string>, report: TypeErrorSink): void {
  new FrameChecker(report, mocked).rule(r);
}

export function typeCheckQuery(body: IExpr[], mocked: ReadonlySet<string>, report: TypeErrorSink): void {
  new FrameChecker(report, mocked).body(body);
}
