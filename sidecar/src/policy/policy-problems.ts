import type { PolicyProblem } from './policy-messages.js';
import { RegoCompileError, RegoEvalError } from './rego/index.js';

/** Compile and evaluation errors as data the pool can hand to the caller. */
export function problemsOf(err: unknown, fallbackCode: string): PolicyProblem[] {
  if (err instanceof RegoCompileError) {
    return err.errors.map((e) => ({ code: 'rego_compile_error', message: e.message, location: e.location }));
  }
  if (err instanceof RegoEvalError) return [{ code: err.code, message: err.message, location: err.location }];
  return [{ code: fallbackCode, message: err instanceof Error ? err.message : String(err), location: '' }];
}
