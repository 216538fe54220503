import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatSummary, runCase, runConformance } from './conformance.js';

const module = 'package test\nimport rego.v1\np := x if x := input.a + 1';

describe('runCase', () => {
  it('passes a matching result and fails a different one with a diff', () => {
    const c = { note: 'n', query: 'data.test.p = x', modules: [module], input: { a: 1 } };
    expect(runCase({ ...c, want_result: [{ x: 2 }] }).status).toBe('passed');
    const failed = runCase({ ...c, want_result: [{ x: 3 }] });
    expect(failed.status).toBe('failed');
    expect(failed.detail).toContain('want [{"x":3}]');
  });

  it('treats an empty want_result as undefined', () => {
    expect(runCase({ note: 'n', query: 'data.test.p = x', modules: [module], want_result: [] }).status).toBe(
      'passed',
    );
  });

  it('compares bindings as sets with sort_bindings', () => {
    const c = { note: 'n', query: 'x := [1, 2][_]', want_result: [{ x: 2 }, { x: 1 }] };
    expect(runCase(c).status).toBe('failed');
    expect(runCase({ ...c, sort_bindings: true }).status).toBe('passed');
  });

  it('checks error codes and messages, with strict built-in errors', () => {
    const c = {
      note: 'n',
      query: 'x := 1 / 0',
      want_error_code: 'eval_builtin_error',
      want_error: 'divide by zero',
    };
    expect(runCase({ ...c, strict_error: true }).status).toBe('passed');
    expect(runCase(c).status).toBe('failed');
    expect(runCase({ ...c, strict_error: true, want_error: 'other' }).status).toBe('failed');
  });

  it('parses input_term as a Rego term (sets survive)', () => {
    const c = {
      note: 'n',
      query: 'x := count(input.s)',
      input_term: '{"s": {1, 2, 2}}',
      want_result: [{ x: 2 }],
    };
    expect(runCase(c).status).toBe('passed');
  });

  it('skips cases with fields it does not know', () => {
    const c = { note: 'n', query: 'true', want_result: [{}], env: {} } as unknown as Parameters<
      typeof runCase
    >[0];
    expect(runCase(c).status).toBe('skipped');
  });
});

describe('runConformance', () => {
  it('summarises per folder and in total', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rego-conf-'));
    mkdirSync(join(dir, 'a'));
    writeFileSync(
      join(dir, 'a', 'cases.yaml'),
      `cases:
  - note: ok
    query: x = 1
    want_result:
      - x: 1
  - note: bad
    query: x = 1
    want_result:
      - x: 2
`,
    );
    const report = runConformance(dir);
    expect(formatSummary(report)).toEqual([
      'a: 1 passed, 1 failed, 0 skipped',
      '1 passed, 1 failed, 0 skipped',
    ]);
  });

  const shared = fileURLToPath(new URL('../../../../../shared/rego-conformance/v1', import.meta.url));
  it.runIf(existsSync(shared))('passes the helloworld and completedoc folders of the shared suite', () => {
    const report = runConformance(shared, (f) => f === 'helloworld' || f === 'completedoc');
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(0);
  });
});
