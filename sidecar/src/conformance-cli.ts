#!/usr/bin/env node
/**
 * node sidecar/dist/conformance-cli.js [DIR] [--verbose] [--min-pass N] [--folder NAME]
 *
 * Runs OPA's Rego conformance cases against our interpreter. DIR defaults to the shared copy
 * beside the repository (`../shared/rego-conformance/v1` from the repo root), found from this
 * file's location so that the working directory does not matter.
 */
import { fileURLToPath } from 'node:url';
import { formatSummary, runConformance } from './policy/rego/conformance.js';

function main(argv: string[]): number {
  let dir = fileURLToPath(new URL('../../../shared/rego-conformance/v1', import.meta.url));
  let verbose = false;
  let minPass: number | undefined;
  const folders: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--min-pass') minPass = Number(argv[++i]);
    else if (a === '--folder') folders.push(argv[++i] ?? '');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: conformance-cli [DIR] [--verbose] [--min-pass N] [--folder NAME]\n');
      return 0;
    } else dir = a;
  }
  if (minPass !== undefined && !Number.isFinite(minPass)) {
    process.stderr.write('--min-pass needs a number\n');
    return 2;
  }
  const report = runConformance(dir, folders.length > 0 ? (f) => folders.includes(f) : undefined);
  if (verbose) {
    for (const r of report.results) {
      if (r.status === 'passed') continue;
      process.stdout.write(`${r.status.toUpperCase()} ${r.file} :: ${r.note}\n     ${r.detail ?? ''}\n`);
    }
  }
  for (const line of formatSummary(report)) process.stdout.write(`${line}\n`);
  if (minPass !== undefined && report.passed < minPass) {
    process.stderr.write(`passed ${report.passed} < --min-pass ${minPass}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
