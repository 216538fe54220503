import { describe, expect, it } from 'vitest';
import { compileModules, RegoCompileError, RegoEvalError } from './index.js';

function policy(...sources: string[]) {
  return compileModules(sources.map((source, i) => ({ path: `m${i}.rego`, source })));
}

function value(source: string, path: string, input?: unknown, data?: unknown) {
  return policy(source).evaluate(path, input, { data });
}

function compileErrors(source: string): string[] {
  try {
    policy(source);
  } catch (e) {
    if (e instanceof RegoCompileError) return e.errors.map((x) => `${x.location} ${x.message}`);
    throw e;
  }
  return [];
}

describe('rules and documents', () => {
  it('distinguishes undefined from false', () => {
    const p = policy('package t\nimport rego.v1\np if input.x == 1\ndefault q := false\nq if input.x == 1');
    expect(p.evaluate('data.t.p', { x: 2 })).toEqual({ defined: false });
    expect(p.evaluate('data.t.q', { x: 2 })).toEqual({ defined: true, value: false });
    expect(p.evaluate('t.q', { x: 1 })).toEqual({ defined: true, value: true });
  });

  it('builds partial sets and objects', () => {
    const src = `package t
import rego.v1
s contains x if some x in input.xs
o[k] := v if some k, v in input.obj`;
    const p = policy(src);
    expect(p.evaluate('t.s', { xs: [3, 1, 3, 2], obj: {} }).value).toEqual([1, 2, 3]);
    expect(p.evaluate('t.o', { xs: [], obj: { b: 2, a: 1 } }).value).toEqual({ a: 1, b: 2 });
  });

  it('supports ref heads and merges virtual with base documents', () => {
    const src =
      'package t\nimport rego.v1\na.b.c := 1\na.b.d := 2\nobj[x][y] := true if { some x in ["p"]; some y in ["q"] }';
    const p = policy(src);
    expect(p.evaluate('data.t', undefined, { data: { t: { base: 'doc' } } }).value).toEqual({
      a: { b: { c: 1, d: 2 } },
      base: 'doc',
      obj: { p: { q: true } },
    });
  });

  it('evaluates else chains in order', () => {
    const src = `package t
import rego.v1
grade := "a" if input.n > 90
else := "b" if input.n > 80
else := "c"`;
    expect(value(src, 't.grade', { n: 95 }).value).toBe('a');
    expect(value(src, 't.grade', { n: 85 }).value).toBe('b');
    expect(value(src, 't.grade', { n: 1 }).value).toBe('c');
  });

  it('calls functions, including several definitions and defaults', () => {
    const src = `package t
import rego.v1
default kind(_) := "other"
kind(x) := "small" if x < 10
kind(x) := "big" if x >= 100
out := [kind(1), kind(50), kind(500)]`;
    expect(value(src, 't.out').value).toEqual(['small', 'other', 'big']);
  });

  it('raises eval_conflict_error for conflicting complete rules', () => {
    const p = policy('package t\np := 1\np := 2');
    expect(() => p.evaluate('t.p', {})).toThrowError(RegoEvalError);
    try {
      p.evaluate('t.p', {});
    } catch (e) {
      expect((e as RegoEvalError).code).toBe('eval_conflict_error');
    }
  });

  it('evaluates comprehensions with captured outer variables', () => {
    const src = `package t
import rego.v1
out := {k: ys | some k in ["a", "b"]; ys := [y | some y in input[k]; y > 1]}`;
    expect(value(src, 't.out', { a: [1, 2, 3], b: [0] }).value).toEqual({ a: [2, 3], b: [] });
  });

  it('backtracks over iteration and unification', () => {
    const p = policy('package t');
    const rows = p.query('[x, y] = [a, b]; a = [1, 2][_]; b = {"k": 2}.k; x > 1', {});
    expect(rows).toEqual([{ x: 2, y: 2, a: 2, b: 2 }]);
  });

  it('reorders a body so that bindings come before uses (safety)', () => {
    expect(value('package t\nimport rego.v1\np := y if { y == x + 1; x = 1; y = 2 }', 't.p').value).toBe(2);
  });
});

describe('every', () => {
  const src = `package t
import rego.v1
all_even if every x in input.xs { x % 2 == 0 }
all_keys_short if every k, v in input.obj { count(k) < 3; v != null }`;
  const p = policy(src);

  it('is true when the body holds for every element', () => {
    expect(p.evaluate('t.all_even', { xs: [2, 4] }).defined).toBe(true);
    expect(p.evaluate('t.all_keys_short', { obj: { ab: 1, c: 2 } }).defined).toBe(true);
  });

  it('is false when one element fails', () => {
    expect(p.evaluate('t.all_even', { xs: [2, 3] }).defined).toBe(false);
    expect(p.evaluate('t.all_keys_short', { obj: { abc: 1 } }).defined).toBe(false);
    expect(p.evaluate('t.all_keys_short', { obj: { a: null } }).defined).toBe(false);
  });

  it('is vacuously true for an empty domain, undefined for a missing one', () => {
    expect(p.evaluate('t.all_even', { xs: [] }).defined).toBe(true);
    expect(p.evaluate('t.all_even', {}).defined).toBe(false);
  });
});

describe('with', () => {
  it('overrides input, data (base and virtual) and functions', () => {
    const src = `package t
import rego.v1
p if input.role == "admin"
q := data.cfg.limit
r := v if v := q with data.cfg.limit as 7
s if p with input.role as "admin"
f(x) := x + 1
g := y if y := f(1) with f as 10
now := t if t := time.now_ns() with time.now_ns as 42
virt := v if v := q with data.t.q as "mocked"`;
    const p = policy(src);
    const data = { cfg: { limit: 3 } };
    expect(p.evaluate('t.q', {}, { data }).value).toBe(3);
    expect(p.evaluate('t.r', {}, { data }).value).toBe(7);
    expect(p.evaluate('t.s', { role: 'user' }).value).toBe(true);
    expect(p.evaluate('t.g', {}).value).toBe(10);
    expect(p.evaluate('t.now', {}).value).toBe(42);
    expect(p.evaluate('t.virt', {}, { data }).value).toBe('mocked');
  });
});

describe('queries', () => {
  it('returns one binding set per solution', () => {
    const p = policy('package t\nimport rego.v1\nxs := [1, 2, 3]');
    expect(p.query('data.t.xs[i] = x; x >= 2')).toEqual([
      { i: 1, x: 2 },
      { i: 2, x: 3 },
    ]);
    expect(p.query('data.t.nope = x')).toEqual([]);
    expect(p.query('data.t.xs')).toEqual([{}]);
  });

  it('represents sets as sorted arrays and keeps big integers exact', () => {
    const rows = policy('package t').query('x := {3, "a", 1, [0]}; y := 9223372036854775807 + 1');
    expect(rows).toEqual([{ x: [1, 3, 'a', [0]], y: 9223372036854775808n }]);
  });

  it('cancels evaluation past the deadline', () => {
    const p = policy(
      'package t\nimport rego.v1\nn := count([x | some a in numbers.range(1, 300); some b in numbers.range(1, 300); x := a * b])',
    );
    expect(() => p.evaluate('t.n', {}, { deadline: Date.now() - 1 })).toThrowError(/eval_cancel_error/);
  });

  it('raises built-in errors only in strict mode', () => {
    const p = policy('package t\nimport rego.v1\nx := 1 / input.d');
    expect(p.evaluate('t.x', { d: 0 })).toEqual({ defined: false });
    expect(() => p.evaluate('t.x', { d: 0 }, { strictBuiltinErrors: true })).toThrowError(
      /div: divide by zero/,
    );
  });
});

describe('compile errors', () => {
  it('reports unsafe variables with file:line:col', () => {
    expect(compileErrors('package t\nimport rego.v1\np if { x > 1 }')).toEqual([
      'm0.rego:3:8 rego_unsafe_var_error: var x is unsafe',
    ]);
  });

  it('reports unknown built-ins instead of failing at run time', () => {
    expect(compileErrors('package t\np := no_such_fn(1)')[0]).toMatch(
      /^m0\.rego:2:6 .*undefined function no_such_fn/,
    );
  });

  it('reports recursion', () => {
    expect(compileErrors('package t\nimport rego.v1\np if q\nq if p')[0]).toMatch(
      /rego_recursion_error: rule data\.t\.(p|q) is recursive/,
    );
  });

  it('reports conflicting defaults and parse errors', () => {
    expect(compileErrors('package t\ndefault p := 1\ndefault p := 2')[0]).toMatch(
      /m0\.rego:3:1 multiple default rules data\.t\.p found/,
    );
    expect(compileErrors('package t\np := [1,')[0]).toMatch(/^m0\.rego:2:\d+ rego_parse_error/);
  });

  it('rejects := after a use of the same name', () => {
    expect(compileErrors('package t\nimport rego.v1\np if { x == 1; x := 1 }')[0]).toMatch(
      /var x referenced above/,
    );
  });

  it('reports arity mismatches', () => {
    expect(compileErrors('package t\np := count(1, 2, 3)')[0]).toMatch(/count: arity mismatch/);
  });
});
