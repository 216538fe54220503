/**
 * The interface the sidecar's services evaluate policies through. Two engines implement
 * it: our TypeScript Rego interpreter (sources from CORESDK_POLICY_DIR) and, later, the
 * opa-wasm loader for compiled bundles.
 */
export interface PolicyResult {
  /** False when the rule is undefined for this input (OPA's "undefined", not `false`). */
  defined: boolean;
  value?: unknown;
}

export interface PolicyEngine {
  /** Evaluates a rule by its data path, e.g. `cpod.authz.decision` or `data.cpod.authz.decision`. */
  evaluate(path: string, input: unknown): PolicyResult;
}
