import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileModules, RegoCompileError } from './index.js';
import { anyOf, NUMBER, overlaps, parseSignature, STRING, typeOfValue, typeString } from './static-types.js';
import { RObject, RSet } from './value.js';

/** `file:line:col message` of every compile error, or `[]` when the module compiles. */
function errors(source: string): string[] {
  try {
    compileModules([{ path: 'm.rego', source }]);
  } catch (e) {
    if (e instanceof RegoCompileError) return e.errors.map((x) => `${x.location} ${x.message}`);
    throw e;
  }
  return [];
}

const mod = (body: string) => `package t\n\n${body}\n`;

describe('type check: reported errors', () => {
  it('reports an operator applied to a string, with the output operand unknown', () => {
    expect(errors(mod('x := 1 + "a"'))).toEqual([
      'm.rego:3:6 rego_type_error: plus: invalid argument(s)\n\thave: (number, string, ???)\n\twant: (number, number, number)',
    ]);
  });

  it('reports count of a number', () => {
    expect(errors(mod('p if count(1)'))).toEqual([
      'm.rego:3:6 rego_type_error: count: invalid argument(s)\n\thave: (number)\n\twant: (any<array[any], object[any: any], set[any], string>, number)',
    ]);
  });

  it('reports string built-ins given numbers', () => {
    expect(errors(mod('p if upper(1)'))).toEqual([
      'm.rego:3:6 rego_type_error: upper: invalid argument(s)\n\thave: (number)\n\twant: (string, string)',
    ]);
    expect(errors(mod('p if {\n\tstartswith("a", 5)\n}'))).toEqual([
      'm.rego:4:2 rego_type_error: startswith: invalid argument(s)\n\thave: (string, number)\n\twant: (string, string, boolean)',
    ]);
  });

  it('follows local variables bound to literals and built-in results', () => {
    expect(errors(mod('p if {\n\tparts := split("a.b", ".")\n\tlower(parts)\n}'))).toEqual([
      'm.rego:5:2 rego_type_error: lower: invalid argument(s)\n\thave: (array[string])\n\twant: (string, string)',
    ]);
    expect(errors(mod('p if {\n\tsome n in [1, 2]\n\ttrim_space(n)\n}'))).toEqual([
      'm.rego:5:2 rego_type_error: trim_space: invalid argument(s)\n\thave: (number)\n\twant: (string, string)',
    ]);
    expect(errors(mod('p if {\n\t[a, b] := ["x", 1]\n\tendswith(a, b)\n}'))).toEqual([
      'm.rego:5:2 rego_type_error: endswith: invalid argument(s)\n\thave: (string, number)\n\twant: (string, string, boolean)',
    ]);
    expect(errors(mod('p if {\n\to := {"n": 1}\n\tupper(o.n)\n}'))).toEqual([
      'm.rego:5:2 rego_type_error: upper: invalid argument(s)\n\thave: (number)\n\twant: (string, string)',
    ]);
  });

  it('checks element types of literal collections', () => {
    expect(errors(mod('s := concat(",", [1, "b"])'))).toEqual([
      'm.rego:3:6 rego_type_error: concat: invalid argument(s)\n\thave: (string, array<number, string>, ???)\n\twant: (string, any<array[string], set[string]>, string)',
    ]);
    expect(errors(mod('s := array.concat([1], {1})'))).toEqual([
      'm.rego:3:6 rego_type_error: array.concat: invalid argument(s)\n\thave: (array<number>, set[number], ???)\n\twant: (array[any], array[any], array[any])',
    ]);
  });

  it('checks output operands and set operators', () => {
    expect(errors(mod('p if count([1], "one")'))).toEqual([
      'm.rego:3:6 rego_type_error: count: invalid argument(s)\n\thave: (array<number>, string)\n\twant: (any<array[any], object[any: any], set[any], string>, number)',
    ]);
    expect(errors(mod('s := {1, 2} | [3]'))).toEqual([
      'm.rego:3:6 rego_type_error: or: invalid argument(s)\n\thave: (set[number], array<number>, ???)\n\twant: (set[any], set[any], set[any])',
    ]);
  });

  it('checks the families beyond strings: regex, json, base64, time, casts, objects', () => {
    const cases: [string, string][] = [
      ['p if regex.match(1, "a")', 'regex.match'],
      ['p if glob.match("*", ".", "a")', 'glob.match'],
      ['x := json.unmarshal(1)', 'json.unmarshal'],
      ['x := base64.encode(true)', 'base64.encode'],
      ['x := time.parse_rfc3339_ns(1)', 'time.parse_rfc3339_ns'],
      ['x := to_number([1])', 'to_number'],
      ['x := object.get([], "a", 1)', 'object.get'],
      ['x := object.keys("a")', 'object.keys'],
      ['x := sum(["a"])', 'sum'],
      ['x := sprintf("%d", 1)', 'sprintf'],
      ['x := format_int("1", 10)', 'format_int'],
      ['x := substring("abc", "1", 2)', 'substring'],
      ['x := array.slice([1, 2], 0, "1")', 'array.slice'],
      ['x := union({1})', 'union'],
    ];
    for (const [body, name] of cases) {
      const errs = errors(mod(body));
      expect(errs, body).toHaveLength(1);
      expect(errs[0], body).toMatch(
        new RegExp(`^m\\.rego:3:\\d+ rego_type_error: ${name.replace('.', '\\.')}: invalid`),
      );
    }
  });

  it('reports every bad call, each at its own location', () => {
    expect(errors(mod('a := upper(1)\nb := lower(2)')).map((e) => e.split(' ')[0])).toEqual([
      'm.rego:3:6',
      'm.rego:4:6',
    ]);
  });

  it('checks queries too', () => {
    const p = compileModules([{ path: 'm.rego', source: 'package t\n' }]);
    expect(() => p.query('x := upper(1)')).toThrowError(
      /query:1:6: rego_type_error: upper: invalid argument/,
    );
  });

  it('leaves arity and undefined-function errors as they were', () => {
    expect(errors(mod('p if upper("a", "b", "c")'))[0]).toContain('rego_type_error: upper: arity mismatch');
    expect(errors(mod('p if nosuch.fn(1)'))).toEqual([
      'm.rego:3:6 rego_type_error: undefined function nosuch.fn',
    ]);
  });
});

describe('type check: valid policies are not flagged', () => {
  it('accepts values of unknown type: input, data, rules, function arguments, comprehensions', () => {
    expect(
      errors(
        mod(`r := "x"
f(x) := upper(x)
p if {
	count(input.items) > 0
	upper(data.t.r)
	upper(r)
	f(1)
	xs := [x | some x in input.xs]
	concat(",", xs)
	n := {k: v | some k, v in input.o}
	count(n)
}`),
      ),
    ).toEqual([]);
  });

  it('accepts unions and polymorphic built-ins', () => {
    expect(
      errors(
        mod(`p if {
	{1, 2} - {1} == {2}
	3 - 1 == 2
	object.get({"a": {"b": 1}}, ["a", "b"], 0) + 1 == 2
	x := object.union({"a": 1}, {"b": 2})
	count(x) == 2
	concat(",", {"a", "b"}) == "a,b"
	concat(",", []) == ""
	time.date([0, "UTC"])
	time.date(0)
	glob.match("*", null, "a")
	strings.any_prefix_match("abc", ["a"])
	sprintf("%v", [1, "a", {"b"}])
	json.marshal({"a": {1}})
	1 == "a"
	walk({"a": 1}, [path, value])
	count(path) >= 0
	to_number("1") + 1
}`),
      ),
    ).toEqual([]);
  });

  it('does not check built-ins replaced with `with`', () => {
    expect(
      errors(
        mod(`mock(_) := "m"
p := upper(1)
q := x if x := p with upper as mock`),
      ),
    ).toEqual([]);
  });

  it('accepts the shipped authorisation policy', () => {
    const source = readFileSync(new URL('../../../policies/authz.rego', import.meta.url), 'utf8');
    expect(() => compileModules([{ path: 'authz.rego', source }])).not.toThrow();
  });
});

describe('static types', () => {
  it('prints types the way OPA does', () => {
    expect(typeString(typeOfValue([1, 'a']))).toBe('array<number, string>');
    expect(typeString(typeOfValue(RSet.of(['a', 1])))).toBe('set[any<number, string>]');
    expect(
      typeString(
        typeOfValue(
          RObject.fromEntries([
            ['b', true],
            ['a', null],
          ]),
        ),
      ),
    ).toBe('object<a: null, b: boolean>');
    expect(typeString(typeOfValue(RObject.fromEntries([[1, 'x']])))).toBe('object[number: string]');
    expect(typeString(undefined)).toBe('???');
    const sig = parseSignature('(string, any<set[string], array[string]>) => array<number, string>');
    expect(sig.args.map(typeString)).toEqual(['string', 'any<array[string], set[string]>']);
    expect(typeString(sig.result)).toBe('array<number, string>');
  });

  it('treats unknown and `any` as compatible with everything', () => {
    const want = parseSignature('(array[string]) => any').args[0]!;
    expect(overlaps(undefined, want)).toBe(true);
    expect(overlaps(anyOf([NUMBER, STRING]), STRING)).toBe(true);
    expect(overlaps(typeOfValue([]), want)).toBe(true);
    expect(overlaps(typeOfValue(['a', 'b']), want)).toBe(true);
    expect(overlaps(typeOfValue(['a', 1]), want)).toBe(false);
    expect(overlaps(NUMBER, STRING)).toBe(false);
  });
});
