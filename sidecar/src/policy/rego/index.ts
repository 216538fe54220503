/**
 * A Rego (v1 syntax) interpreter: parse and compile once with `compileModules`, then evaluate
 * many times. Results are plain JS values:
 * - sets become arrays sorted in OPA's value order;
 * - objects become plain objects; a non-string key is rendered as its JSON text (`1` → `"1"`);
 * - integers outside ±(2^53 − 1) are returned as `bigint` so they stay exact;
 * - decimal literals float64 cannot hold (`1e-400`) compare exactly but are returned as their float.
 *
 * Compiling also type-checks built-in calls and operators (`rego_type_error`, as OPA reports them).
 */
import type { ModuleAST } from './ast.js';
import { type CompiledQuery, Compiler } from './compiler.js';
import { RegoCompileError, type RegoErrorDetail, RegoEvalError, RegoParseError } from './errors.js';
import { Evaluator } from './evaluator.js';
import { parseModule, parseQuery, parseTerm } from './parser.js';
import { EMPTY_OBJECT, fromJS, RObject, toJS, type Value } from './value.js';

export type { RegoErrorDetail };
export { RegoCompileError, RegoEvalError };

export interface RegoModule {
  /** File name used in error locations (`authz.rego:12:3`). */
  path: string;
  source: string;
}

export interface QueryOptions {
  input?: unknown;
  /** Base documents. Treated as immutable: converted once per object identity and cached. */
  data?: unknown;
  /** Epoch milliseconds; evaluation past it throws `RegoEvalError` with code `eval_cancel_error`. */
  deadline?: number;
  /**
   * OPA's `strict-builtin-errors`: built-in errors (type errors, bad operands) raise instead of
   * making the expression undefined. Off by default, as in OPA.
   */
  strictBuiltinErrors?: boolean;
}

export interface EvaluateOptions {
  /** Base documents, as for `query` (cached per object identity, so do not mutate them). */
  data?: unknown;
  deadline?: number;
  strictBuiltinErrors?: boolean;
}

export interface CompiledPolicy {
  /**
   * Runs any Rego query (`x = data.cpod.authz.decision`, `x := data.a[_]; x > 1`, ...); one binding
   * object per solution, keyed by the query's variable names. A query without variables yields
   * `[{}]` when true and `[]` when undefined or false, as OPA's bindings do; use `evaluate` (or bind
   * a variable) to get a document's value.
   */
  query(query: string, options?: QueryOptions): Array<Record<string, unknown>>;
  /** The value of the document at `path` (`data.a.b` or `a.b`); `defined: false` when undefined. */
  evaluate(path: string, input: unknown, options?: EvaluateOptions): { defined: boolean; value?: unknown };
}

function toDetail(e: unknown): RegoErrorDetail[] {
  if (e instanceof RegoCompileError) return e.errors;
  if (e instanceof RegoParseError)
    return [{ message: `rego_parse_error: ${e.message}`, location: e.location }];
  throw e;
}

class Policy implements CompiledPolicy {
  private readonly queries = new Map<string, CompiledQuery>();
  private readonly dataCache = new WeakMap<object, Value>();

  constructor(private readonly compiler: Compiler) {}

  private dataValue(data: unknown): Value {
    if (data === undefined || data === null) return EMPTY_OBJECT;
    if (typeof data === 'object') {
      const hit = this.dataCache.get(data);
      if (hit !== undefined) return hit;
      const v = fromJS(data);
      this.dataCache.set(data, v);
      return v;
    }
    return fromJS(data);
  }

  private compiledQuery(query: string): CompiledQuery {
    let q = this.queries.get(query);
    if (q === undefined) {
      try {
        q = this.compiler.compileQuery(parseQuery(query, 'query'));
      } catch (e) {
        throw new RegoCompileError(toDetail(e));
      }
      if (this.queries.size > 500) this.queries.clear();
      this.queries.set(query, q);
    }
    return q;
  }

  query(query: string, options: QueryOptions = {}): Array<Record<string, unknown>> {
    const q = this.compiledQuery(query);
    const ev = new Evaluator(this.compiler.root, {
      input: options.input === undefined ? undefined : fromJS(options.input),
      data: this.dataValue(options.data),
      strict: options.strictBuiltinErrors ?? false,
      deadline: options.deadline,
    });
    const out: Array<Record<string, unknown>> = [];
    ev.runQuery(q.body, q.nslots, (f) => {
      const row: Record<string, unknown> = {};
      for (const { name, slot } of q.outputs) {
        const v = f[slot];
        if (v !== undefined) row[name] = toJS(v);
      }
      out.push(row);
    });
    return out;
  }

  evaluate(
    path: string,
    input: unknown,
    options: EvaluateOptions = {},
  ): { defined: boolean; value?: unknown } {
    const segs = path
      .replaceAll('/', '.')
      .split('.')
      .filter((s) => s !== '');
    if (segs[0] === 'data') segs.shift();
    if (options.deadline !== undefined && Date.now() > options.deadline) {
      throw new RegoEvalError('eval_cancel_error', 'caller cancelled query execution');
    }
    const ev = new Evaluator(this.compiler.root, {
      input: input === undefined ? undefined : fromJS(input),
      data: this.dataValue(options.data),
      strict: options.strictBuiltinErrors ?? false,
      deadline: options.deadline,
    });
    const v = ev.evalPath(segs);
    return v === undefined ? { defined: false } : { defined: true, value: toJS(v) };
  }
}

export function compileModules(modules: RegoModule[]): CompiledPolicy {
  const errors: RegoErrorDetail[] = [];
  const asts: ModuleAST[] = [];
  for (const m of modules) {
    try {
      asts.push(parseModule(m.source, m.path));
    } catch (e) {
      errors.push(...toDetail(e));
    }
  }
  if (errors.length > 0) throw new RegoCompileError(errors);
  const compiler = new Compiler();
  compiler.compileModules(asts);
  return new Policy(compiler);
}

/**
 * Parses a ground Rego term (e.g. `{"a": {1, 2}}`) into a value that `query`/`evaluate` accept as
 * input unchanged, so sets and non-string keys survive (plain JSON cannot express them).
 */
export function parseRegoValue(text: string): unknown {
  let v: Value | undefined;
  try {
    const compiler = new Compiler();
    const t = compiler.compileGroundTerm(parseTerm(text, 'term'));
    v = new Evaluator(compiler.root, {
      input: undefined,
      data: new RObject(),
      strict: true,
      deadline: undefined,
    }).evalGround(t);
  } catch (e) {
    throw new RegoCompileError(toDetail(e));
  }
  if (v === undefined) throw new RegoCompileError([{ message: 'term is undefined', location: 'term:1:1' }]);
  return v;
}
