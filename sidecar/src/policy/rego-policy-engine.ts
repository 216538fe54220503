import { loadOpaWasmPolicy } from './opa-wasm-policy-engine.js';
import type { EvaluationOptions, PolicyEngine, PolicyResult } from './policy-engine.js';
import type { PolicySet } from './policy-set.js';
import { readRegoModules } from './policy-set.js';
import { type CompiledPolicy, compileModules } from './rego/index.js';

export class RegoPolicyEngine implements PolicyEngine {
  constructor(
    private readonly policy: CompiledPolicy,
    readonly modules: string[],
  ) {}

  evaluate(path: string, input: unknown, options: EvaluationOptions = {}): PolicyResult {
    return this.policy.evaluate(path.startsWith('data.') ? path : `data.${path}`, input, {
      deadline: options.deadline,
    });
  }
}

/** Compiles every `*.rego` file under `dir` (recursively) once; evaluation never re-parses. */
export function loadRegoPolicyDir(dir: string): RegoPolicyEngine {
  const modules = readRegoModules(dir);
  return new RegoPolicyEngine(
    compileModules(modules),
    modules.map((m) => m.path),
  );
}

/** Builds the engine a policy set needs; throws `RegoCompileError` (or a load error) when it is broken. */
export async function loadPolicyEngine(set: PolicySet): Promise<PolicyEngine> {
  if (set.kind === 'wasm') return loadOpaWasmPolicy(set.file, set.bytes);
  return new RegoPolicyEngine(
    compileModules(set.modules),
    set.modules.map((m) => m.path),
  );
}
