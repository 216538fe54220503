import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { findWasmBundle } from './opa-wasm-policy-engine.js';
import type { RegoModule } from './rego/index.js';

/**
 * What a policy directory holds, read in one go so that a reload compiles exactly one
 * consistent snapshot. Plain data: it is posted to the policy workers as is.
 */
export type PolicySet =
  | { kind: 'rego'; revision: string; modules: RegoModule[] }
  | { kind: 'wasm'; revision: string; file: string; bytes: Uint8Array; modules: string[] };

/**
 * `*.rego` files under `dir`, recursively. Dot-directories are skipped: Kubernetes mounts a
 * ConfigMap as `..2026_…/` plus symlinks to it, and reading both would load every module twice.
 */
function regoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return regoFiles(path);
    return entry.name.endsWith('.rego') ? [path] : [];
  });
}

function revisionOf(parts: Array<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

export function readRegoModules(dir: string): RegoModule[] {
  const files = regoFiles(dir).sort();
  if (files.length === 0) throw new Error(`no .rego files in policy directory ${dir}`);
  return files.map((file) => ({ path: relative(dir, file), source: readFileSync(file, 'utf8') }));
}

/** A compiled wasm bundle wins over `.rego` sources when both are present. */
export function readPolicySet(dir: string): PolicySet {
  const wasm = findWasmBundle(dir);
  if (wasm !== undefined) {
    const name = basename(wasm);
    const bytes = readFileSync(wasm);
    return { kind: 'wasm', revision: revisionOf([name, bytes]), file: wasm, bytes, modules: [name] };
  }
  return regoSet(readRegoModules(dir));
}

export function regoSet(modules: RegoModule[]): PolicySet {
  return {
    kind: 'rego',
    revision: revisionOf(modules.flatMap((m) => [m.path, m.source])),
    modules,
  };
}

export function moduleNames(set: PolicySet): string[] {
  return set.kind === 'rego' ? set.modules.map((m) => m.path) : set.modules;
}
