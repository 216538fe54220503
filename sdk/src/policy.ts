import type { HttpClient } from './http.js';

/** The value of a policy rule for one input, as `POST /v1/policy/evaluate` returns it. */
export interface PolicyDecision {
  /** The rule's value; `null` when the rule is undefined for this input. */
  result: unknown;
  /** True when the result is `true`, or an object whose `allow` is true. */
  allowed: boolean;
  /** False when the rule is undefined for this input (OPA's "undefined", which is not `false`). */
  defined: boolean;
  /** The result's `reason`, or `""`. */
  reason: string;
}

/** `POST /v1/policy/evaluate`; needs scope `policy:evaluate`. */
export function evaluatePolicy(http: HttpClient, path: string, input: unknown): Promise<PolicyDecision> {
  return http.request<PolicyDecision>('POST', '/v1/policy/evaluate', { body: { path, input } });
}
