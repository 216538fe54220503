/**
 * The interface the policy workers evaluate through. Two engines implement it: our TypeScript
 * Rego interpreter (sources from CORESDK_POLICY_DIR) and the opa-wasm loader for bundles
 * compiled with `opa build -t wasm`.
 */
export interface PolicyResult {
  /** False when the rule is undefined for this input (OPA's "undefined", not `false`). */
  defined: boolean;
  value?: unknown;
}

export interface EvaluationOptions {
  /**
   * Epoch milliseconds after which a cooperative engine stops with a timeout. Engines that
   * cannot stop themselves (wasm) are ended by the pool's watchdog instead.
   */
  deadline?: number;
}

export interface PolicyEngine {
  /** Names of the loaded modules (file names, or a wasm bundle and its entrypoints). */
  readonly modules: string[];
  /** Evaluates a rule by its data path, e.g. `cpod.authz.decision` or `data.cpod.authz.decision`. */
  evaluate(path: string, input: unknown, options?: EvaluationOptions): PolicyResult;
}
