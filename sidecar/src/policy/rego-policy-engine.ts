import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { PolicyEngine, PolicyResult } from './policy-engine.js';
import { type CompiledPolicy, compileModules, type RegoModule } from './rego/index.js';

function regoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return regoFiles(path);
    return entry.name.endsWith('.rego') ? [path] : [];
  });
}

export class RegoPolicyEngine implements PolicyEngine {
  constructor(
    private readonly policy: CompiledPolicy,
    readonly modules: string[],
  ) {}

  evaluate(path: string, input: unknown): PolicyResult {
    return this.policy.evaluate(path.startsWith('data.') ? path : `data.${path}`, input);
  }
}

/** Compiles every `*.rego` file under `dir` (recursively) once; evaluation never re-parses. */
export function loadRegoPolicyDir(dir: string): RegoPolicyEngine {
  const files = regoFiles(dir).sort();
  if (files.length === 0) throw new Error(`no .rego files in policy directory ${dir}`);
  const modules: RegoModule[] = files.map((file) => ({
    path: relative(dir, file),
    source: readFileSync(file, 'utf8'),
  }));
  return new RegoPolicyEngine(
    compileModules(modules),
    modules.map((m) => m.path),
  );
}
