import { describe, expect, it } from 'vitest';
import { compileModules } from './index.js';

const empty = compileModules([{ path: 'e.rego', source: 'package e' }]);

/** Value of `x` for a one-line query `x := <expr>`; undefined when the query has no solution. */
function run(expr: string, input?: unknown): unknown {
  const rows = empty.query(`x := ${expr}`, { input, strictBuiltinErrors: true });
  return rows[0]?.x;
}

describe('built-ins', () => {
  it('sets: union, intersection, toset and operators', () => {
    expect(run('union({{1, 2}, {2, 3}, set()})')).toEqual([1, 2, 3]);
    expect(run('union(set())')).toEqual([]);
    expect(run('intersection({{1, 2}, {2, 3}})')).toEqual([2]);
    expect(run('toset([3, 1, 3])')).toEqual([1, 3]);
    expect(run('toset({"a"})')).toEqual(['a']);
    expect(run('{1, 2} | {3}')).toEqual([1, 2, 3]);
    expect(run('{1, 2} & {2}')).toEqual([2]);
    expect(run('{1, 2} - {2}')).toEqual([1]);
    expect(() => run('toset(1)')).toThrowError(
      /toset: operand 1 must be one of \{array, set\} but got number/,
    );
  });

  it('aggregates and arithmetic', () => {
    expect(run('[count("héllo"), sum([1, 2.5]), product({2, 3}), max([1, 3]), min({4, 2})]')).toEqual([
      5, 3.5, 6, 3, 2,
    ]);
    expect(run('sort(["b", 1, null, "a"])')).toEqual([null, 1, 'a', 'b']);
    expect(run('[7 % 3, 7 / 2, abs(-2), round(2.5), ceil(1.1), floor(-1.1)]')).toEqual([1, 3.5, 2, 3, 2, -2]);
    expect(run('numbers.range(3, 1)')).toEqual([3, 2, 1]);
    expect(run('18446744073709551615 * 2')).toBe(36893488147419103230n);
  });

  it('strings and sprintf', () => {
    expect(run('sprintf("%s/%d/%v/%q/%.2f/%x", ["a", 5, {"k": [1]}, "q", 3.14159, 255])')).toBe(
      'a/5/{"k": [1]}/"q"/3.14/ff',
    );
    expect(
      run('[trim_space("  a "), trim("xxaxx", "x"), substring("héllo", 1, 3), indexof("héllo", "l")]'),
    ).toEqual(['a', 'a', 'éll', 2]);
    expect(run('strings.replace_n({"a": "1", "b": "2"}, "abc")')).toBe('12c');
    expect(
      run('[format_int(255, 16), concat("-", {"b", "a"}), split("a,b", ","), replace("aa", "a", "b")]'),
    ).toEqual(['ff', 'a-b', ['a', 'b'], 'bb']);
  });

  it('objects', () => {
    expect(run('object.get({"a": {"b": 1}}, ["a", "b"], 0)')).toBe(1);
    expect(run('object.get({"a": 1}, "z", "dflt")')).toBe('dflt');
    expect(run('object.union({"a": {"b": 1}}, {"a": {"c": 2}})')).toEqual({ a: { b: 1, c: 2 } });
    expect(run('object.remove({"a": 1, "b": 2}, ["a"])')).toEqual({ b: 2 });
    expect(run('object.filter({"a": 1, "b": 2}, {"a"})')).toEqual({ a: 1 });
    expect(run('object.keys({"a": 1})')).toEqual(['a']);
  });

  it('types, regex and glob', () => {
    expect(run('[type_name({}), type_name(set()), is_number(1.5), to_number("12")]')).toEqual([
      'object',
      'set',
      true,
      12,
    ]);
    expect(run('regex.match("^a+$", "aaa")')).toBe(true);
    expect(run('glob.match("*.example.com", ["."], "api.example.com")')).toBe(true);
    expect(run('glob.match("*.example.com", ["."], "a.b.example.com")')).toBe(false);
    expect(run('glob.match("**.example.com", ["."], "a.b.example.com")')).toBe(true);
  });

  it('encodings and crypto', () => {
    expect(
      run('[base64.encode("hi"), base64.decode("aGk="), base64url.encode_no_pad("??"), hex.encode("A")]'),
    ).toEqual(['aGk=', 'hi', 'Pz8', '41']);
    expect(run('json.unmarshal(json.marshal({"a": [1, {2}]}))')).toEqual({ a: [1, [2]] });
    expect(run('urlquery.encode_object({"a": "b c", "d": ["e", "f"]})')).toBe('a=b+c&d=e&d=f');
    expect(run('crypto.sha256("abc")')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(run('crypto.hmac.sha256("msg", "key")')).toBe(
      '2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628',
    );
  });

  it('time and jwt', () => {
    expect(run('time.parse_rfc3339_ns("2024-01-02T03:04:05.5Z")')).toBe(1704164645500000000n);
    expect(run('time.date(0)')).toEqual([1970, 1, 1]);
    expect(typeof run('time.now_ns()')).toBe('bigint');
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    expect(run(`io.jwt.decode("${token}")`)).toEqual([{ alg: 'HS256' }, { sub: 'x' }, '736967']);
  });

  it('same uuid.rfc4122 seed, same value within one evaluation', () => {
    const rows = empty.query('a := uuid.rfc4122("s"); b := uuid.rfc4122("s"); c := uuid.rfc4122("t")');
    expect(rows[0]?.a).toBe(rows[0]?.b);
    expect(rows[0]?.a).not.toBe(rows[0]?.c);
    expect(String(rows[0]?.a)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('json.match_schema and json.verify_schema', () => {
  const schema = `{
    "type": "object",
    "required": ["id", "tags"],
    "properties": {
      "id": {"type": "integer", "minimum": 1},
      "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
      "kind": {"enum": ["a", "b"]},
      "ref": {"$ref": "#/definitions/name"}
    },
    "additionalProperties": false,
    "definitions": {"name": {"type": "string", "pattern": "^[a-z]+$"}}
  }`;

  it('accepts a matching document, given as a value or as JSON text', () => {
    expect(run(`json.match_schema({"id": 5, "tags": ["x"], "ref": "abc"}, ${schema})`)).toEqual([true, []]);
    expect(run(`json.match_schema(\`{"id": 5, "tags": []}\`, ${schema})`)).toEqual([true, []]);
    expect(run('json.match_schema(1, `{"type": "number"}`)')).toEqual([true, []]);
  });

  it('reports every failure with the field, the kind and the validator wording', () => {
    const [ok, errors] = run(
      `json.match_schema({"id": 0, "tags": ["x", "x", 1], "kind": "c", "ref": "A", "extra": 1}, ${schema})`,
    ) as [boolean, { field: string; type: string; desc: string; error: string }[]];
    expect(ok).toBe(false);
    expect(errors.map((e) => [e.field, e.type])).toEqual(
      expect.arrayContaining([
        ['(root)', 'additional_property_not_allowed'],
        ['id', 'number_gte'],
        ['tags', 'unique'],
        ['tags.2', 'invalid_type'],
        ['kind', 'enum'],
        ['ref', 'pattern'],
      ]),
    );
    expect(errors.find((e) => e.field === 'tags.2')).toEqual({
      desc: 'Invalid type. Expected: string, given: integer',
      error: 'tags.2: Invalid type. Expected: string, given: integer',
      field: 'tags.2',
      type: 'invalid_type',
    });
    expect(run(`json.match_schema({"tags": []}, ${schema})`)).toEqual([
      false,
      [{ desc: 'id is required', error: '(root): id is required', field: '(root)', type: 'required' }],
    ]);
  });

  it('supports combinators and conditionals', () => {
    const s = '{"anyOf": [{"type": "string"}, {"type": "null"}], "not": {"const": "no"}}';
    // A string operand is JSON text, so string documents are quoted.
    expect(run(`json.match_schema(\`"yes"\`, ${s})[0]`)).toBe(true);
    expect(run(`json.match_schema(null, ${s})[0]`)).toBe(true);
    expect(run(`json.match_schema(\`"no"\`, ${s})[1][0].type`)).toBe('number_not');
    expect(run(`json.match_schema(1, ${s})[1][0].type`)).toBe('number_any_of');
    const c = '{"if": {"minimum": 10}, "then": {"multipleOf": 5}, "else": {"maximum": 3}}';
    expect(
      run(`[json.match_schema(15, ${c})[0], json.match_schema(12, ${c})[0], json.match_schema(4, ${c})[0]]`),
    ).toEqual([true, false, false]);
  });

  it('validates schemas themselves', () => {
    expect(run('json.verify_schema({"type": "string"})')).toEqual([true, null]);
    expect(run('json.verify_schema(`{"type": "text"}`)')).toEqual([
      false,
      'has a primitive type that is NOT VALID -- given: /text/ Expected valid values are:[array boolean integer number null object string]',
    ]);
    expect(() => run('json.match_schema({}, {"minLength": -1})')).toThrowError(
      /json\.match_schema: minLength must be of a non-negative integer/,
    );
  });
});

describe('decimal literals float64 cannot hold', () => {
  it('order, compare and key by the number they denote', () => {
    expect(run('[1e400 > 1e399, 1e-400 > 0, 0.1234567890123456789 > 0.1234567890123456788]')).toEqual([
      true,
      true,
      true,
    ]);
    expect(run('[1e-400 == 1e-400, 1e-400 == 0, 10e-401 == 1e-400, -1e-400 < 0]')).toEqual([
      true,
      false,
      true,
      true,
    ]);
    expect(run('count({1e-400, 10e-401, 0})')).toBe(2);
    expect(run('[0.1 == 0.10, 3.50 == 3.5, 1e2 == 100]')).toEqual([true, true, true]);
  });

  it('compute with their float approximation and print as written', () => {
    expect(run('0.1234567890123456789 * 2')).toBe(0.24691357802469135);
    expect(run('json.marshal([1e-400])')).toBe('[1e-400]');
    expect(run('type_name(1e-400)')).toBe('number');
  });
});
