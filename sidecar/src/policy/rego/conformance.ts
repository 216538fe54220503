/**
 * Runs OPA's YAML conformance cases (`v1/<folder>/*.yaml`) against this engine. The CLI in
 * `src/conformance-cli.ts` only parses flags and prints; everything else lives here so that it
 * can be unit-tested.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { RegoCompileError, RegoEvalError } from './errors.js';
import { compileModules, parseRegoValue } from './index.js';
import { compare, equal, fromJS, RObject, type Value } from './value.js';

export interface ConformanceCase {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error_code?: string;
  want_error?: string;
  want_defined?: boolean;
  strict_error?: boolean;
  sort_bindings?: boolean;
}

export type CaseStatus = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  folder: string;
  file: string;
  note: string;
  status: CaseStatus;
  /** Why it failed or was skipped, with expected/actual for failures. */
  detail?: string;
}

export interface FolderSummary {
  folder: string;
  passed: number;
  failed: number;
  skipped: number;
}

export interface ConformanceReport {
  results: CaseResult[];
  folders: FolderSummary[];
  passed: number;
  failed: number;
  skipped: number;
}

const KNOWN_KEYS = new Set([
  'note',
  'query',
  'modules',
  'data',
  'input',
  'input_term',
  'want_result',
  'want_error_code',
  'want_error',
  'want_defined',
  'strict_error',
  'sort_bindings',
]);

/** JSON text that also prints bigints, for diffs. */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)) ?? 'undefined';
}

/** With `sort_bindings` order is not significant, also inside values (sets arrive as arrays). */
function sortDeep(v: Value): Value {
  if (Array.isArray(v)) return v.map(sortDeep).sort(compare);
  if (v instanceof RObject) return RObject.fromEntries(v.sorted().map(([k, x]) => [k, sortDeep(x)]));
  return v;
}

function sameRows(want: Record<string, unknown>[], got: Record<string, unknown>[], asSet: boolean): boolean {
  if (want.length !== got.length) return false;
  let w = want.map((r) => fromJS(r));
  let g = got.map((r) => fromJS(r));
  if (asSet) {
    w = w.map(sortDeep).sort(compare);
    g = g.map(sortDeep).sort(compare);
  }
  return w.every((x, i) => equal(x, g[i]!));
}

/** Runs one case; never throws. */
export function runCase(c: ConformanceCase, folder = '', file = ''): CaseResult {
  const base = { folder, file, note: c.note };
  const unknown = Object.keys(c).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0)
    return { ...base, status: 'skipped', detail: `unsupported case fields: ${unknown.join(', ')}` };
  const wantsError = c.want_error !== undefined || c.want_error_code !== undefined;
  let got: Record<string, unknown>[];
  try {
    const policy = compileModules((c.modules ?? []).map((source, i) => ({ path: `test-${i}.rego`, source })));
    const input = c.input_term !== undefined ? parseRegoValue(c.input_term) : c.input;
    got = policy.query(c.query, {
      input,
      data: c.data ?? {},
      strictBuiltinErrors: c.strict_error === true,
      deadline: Date.now() + 10_000,
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!wantsError) return { ...base, status: 'failed', detail: `unexpected error: ${message}` };
    const code =
      e instanceof RegoEvalError
        ? e.code
        : e instanceof RegoCompileError
          ? 'rego_compile_error'
          : 'internal_error';
    if (c.want_error_code !== undefined && code !== c.want_error_code) {
      return {
        ...base,
        status: 'failed',
        detail: `want error code ${c.want_error_code}, got ${code}: ${message}`,
      };
    }
    if (c.want_error !== undefined && !message.includes(c.want_error)) {
      return {
        ...base,
        status: 'failed',
        detail: `want error containing ${show(c.want_error)}, got ${show(message)}`,
      };
    }
    if (!(e instanceof RegoEvalError || e instanceof RegoCompileError)) {
      return { ...base, status: 'failed', detail: `internal error: ${message}` };
    }
    return { ...base, status: 'passed' };
  }
  if (wantsError) {
    return {
      ...base,
      status: 'failed',
      detail: `want error ${c.want_error_code ?? ''} ${show(c.want_error ?? '')}, got result ${show(got)}`,
    };
  }
  if (c.want_defined !== undefined) {
    const defined = got.length > 0;
    if (defined !== c.want_defined)
      return { ...base, status: 'failed', detail: `want defined=${c.want_defined}, got ${show(got)}` };
    if (c.want_result === undefined) return { ...base, status: 'passed' };
  }
  const want = c.want_result ?? [];
  if (!sameRows(want, got, c.sort_bindings === true)) {
    return { ...base, status: 'failed', detail: `want ${show(want)}\n     got  ${show(got)}` };
  }
  return { ...base, status: 'passed' };
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (name.endsWith('.yaml') || name.endsWith('.yml')) out.push(p);
  }
  return out;
}

/** Loads the cases of one YAML file; integers are read as bigint so big numbers stay exact. */
export function loadCases(file: string): ConformanceCase[] {
  const doc = YAML.parse(readFileSync(file, 'utf8'), { intAsBigInt: true }) as {
    cases?: ConformanceCase[];
  } | null;
  return (doc?.cases ?? []).map((c) => ({ ...c, note: String(c.note ?? '') }));
}

export function runConformance(dir: string, filter?: (folder: string) => boolean): ConformanceReport {
  const results: CaseResult[] = [];
  for (const file of yamlFiles(dir)) {
    const rel = relative(dir, file);
    const folder = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '.';
    if (filter && !filter(folder)) continue;
    let cases: ConformanceCase[];
    try {
      cases = loadCases(file);
    } catch (e) {
      results.push({
        folder,
        file: rel,
        note: rel,
        status: 'failed',
        detail: `cannot parse YAML: ${(e as Error).message}`,
      });
      continue;
    }
    for (const c of cases) {
      // YAML reads numeric-looking queries/modules as numbers; the format says they are strings.
      const normalised: ConformanceCase = {
        ...c,
        query: String(c.query),
        ...(c.input_term !== undefined ? { input_term: String(c.input_term) } : {}),
      };
      results.push(runCase(normalised, folder, rel));
    }
  }
  const byFolder = new Map<string, FolderSummary>();
  for (const r of results) {
    let s = byFolder.get(r.folder);
    if (!s) {
      s = { folder: r.folder, passed: 0, failed: 0, skipped: 0 };
      byFolder.set(r.folder, s);
    }
    s[r.status]++;
  }
  const folders = [...byFolder.values()].sort((a, b) =>
    a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0,
  );
  const count = (st: CaseStatus) => results.filter((r) => r.status === st).length;
  return { results, folders, passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
}

export function formatSummary(report: ConformanceReport): string[] {
  const lines = report.folders.map(
    (f) => `${f.folder}: ${f.passed} passed, ${f.failed} failed, ${f.skipped} skipped`,
  );
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  return lines;
}
