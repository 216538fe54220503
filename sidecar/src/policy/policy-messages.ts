import type { PolicySet } from './policy-set.js';
import type { RegoModule } from './rego/index.js';

/**
 * The protocol between the pool (main thread) and its policy workers. A reload is two-phase:
 * every worker `prepare`s the new set, and only when all succeeded do they `commit`, so no
 * request ever sees a mix of old and new policy.
 */
export type ToWorker =
  | { type: 'prepare'; revision: string; set: PolicySet }
  | { type: 'commit'; revision: string }
  | { type: 'discard'; revision: string }
  | { type: 'evaluate'; id: number; path: string; input: unknown; budgetMs: number }
  | { type: 'dry-run'; id: number; modules: RegoModule[]; path: string; input: unknown; budgetMs: number };

export interface PolicyProblem {
  code: string;
  message: string;
  location: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'prepared'; revision: string; problems: PolicyProblem[] }
  | { type: 'result'; id: number; defined: boolean; value?: unknown }
  | { type: 'failed'; id: number; problems: PolicyProblem[] };

/** Given to a worker at start: the policy it serves until told otherwise. */
export interface WorkerStart {
  set: PolicySet;
}
