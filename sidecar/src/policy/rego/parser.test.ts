import { describe, expect, it } from 'vitest';
import { RegoParseError } from './errors.js';
import { parseModule, parseQuery, parseTerm } from './parser.js';

describe('parser', () => {
  it('parses a v1 module with imports, defaults, contains, else and functions', () => {
    const m = parseModule(
      `package a.b
import rego.v1
import data.x.y as z

default allow := false
allow if { input.ok }
s contains v if some v in input.xs
o[k] := v if some k, v in input.o
f(x) := y if y := x + 1
g := 1 if false
else := 2
a.b.c := "deep"
`,
      'm.rego',
    );
    expect(m.pkg).toEqual(['a', 'b']);
    expect(m.imports.map((i) => i.alias)).toEqual([undefined, 'z']);
    expect(m.rules.map((r) => [r.isDefault, r.kind, r.args?.length ?? null, r.elses.length])).toEqual([
      [true, 'value', null, 0],
      [false, 'value', null, 0],
      [false, 'contains', null, 0],
      [false, 'value', null, 0],
      [false, 'value', 1, 0],
      [false, 'value', null, 1],
      [false, 'value', null, 0],
    ]);
  });

  it('ends body literals at newlines but not inside brackets', () => {
    const body = parseQuery('x := [1,\n 2]\ny := x[0]');
    expect(body).toHaveLength(2);
  });

  it('parses strings, raw strings, numbers and comments', () => {
    expect(parseTerm('"a\\n\\u00e9"')).toMatchObject({ type: 'scalar', value: 'a\né' });
    expect(parseTerm('`raw \\n`')).toMatchObject({ type: 'scalar', value: 'raw \\n' });
    expect(parseTerm('12345678901234567890')).toMatchObject({ value: 12345678901234567890n });
    expect(parseTerm('-1.5e3')).toMatchObject({ value: -1500 });
    expect(parseQuery('x := 1 # comment\n# another\ny := 2')).toHaveLength(2);
  });

  it('distinguishes comprehensions from set union', () => {
    expect(parseTerm('[x | x := 1]')).toMatchObject({ type: 'arraycompr' });
    expect(parseTerm('{k: v | k := 1; v := 2}')).toMatchObject({ type: 'objectcompr' });
    expect(parseTerm('{x | x := 1}')).toMatchObject({ type: 'setcompr' });
    expect(parseTerm('(a | b)')).toMatchObject({ type: 'call' });
  });

  it('reports errors with file:line:col', () => {
    try {
      parseModule('package p\n\np := [1,', 'bad.rego');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RegoParseError);
      expect((e as RegoParseError).location).toMatch(/^bad\.rego:3:\d+$/);
    }
  });
});
