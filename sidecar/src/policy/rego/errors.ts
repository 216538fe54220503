export interface RegoErrorDetail {
  message: string;
  /** `file:line:col` */
  location: string;
}

/** Parse and compile errors, all collected before throwing (like `opa check`). */
export class RegoCompileError extends Error {
  readonly errors: RegoErrorDetail[];

  constructor(errors: RegoErrorDetail[]) {
    const n = errors.length;
    const head = n === 1 ? '1 error occurred' : `${n} errors occurred`;
    super(`${head}: ${errors.map((e) => `${e.location}: ${e.message}`).join('; ')}`);
    this.name = 'RegoCompileError';
    this.errors = errors;
  }
}

/** Raised at evaluation time; `code` is OPA's (`eval_conflict_error`, `eval_type_error`, ...). */
export class RegoEvalError extends Error {
  readonly code: string;
  /** `file:line` of the expression that failed, when known. */
  readonly location: string;

  constructor(code: string, message: string, location = '') {
    super(location ? `${location}: ${code}: ${message}` : `${code}: ${message}`);
    this.name = 'RegoEvalError';
    this.code = code;
    this.location = location;
  }
}

/** A single parse error; the parser converts it into a `RegoCompileError` entry. */
export class RegoParseError extends Error {
  readonly location: string;

  constructor(message: string, location: string) {
    super(message);
    this.name = 'RegoParseError';
    this.location = location;
  }
}

/**
 * Thrown by built-ins. `type` errors become `eval_type_error`, the rest `eval_builtin_error`; in
 * non-strict mode (OPA's default) the evaluator turns them into "undefined" instead.
 */
export class BuiltinError extends Error {
  readonly kind: 'type' | 'builtin';

  constructor(message: string, kind: 'type' | 'builtin' = 'builtin') {
    super(message);
    this.name = 'BuiltinError';
    this.kind = kind;
  }
}
