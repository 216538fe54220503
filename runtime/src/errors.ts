/**
 * One error type for every process. Codes are a closed literal union so that each
 * transport (problem+json, GraphQL extensions, gRPC status, RFC 6749) can map them
 * exhaustively; `expose: false` errors never show their message to a caller.
 */
export const API_ERRORS = {
  ERR_AUTH_MISSING_TOKEN: { status: 401, title: 'Unauthorized' },
  ERR_AUTH_INVALID_TOKEN: { status: 401, title: 'Unauthorized' },
  ERR_AUTH_REVOKED_TOKEN: { status: 401, title: 'Unauthorized' },
  ERR_AUTH_ADMIN_REQUIRED: { status: 401, title: 'Unauthorized' },
  ERR_POLICY_DENIED: { status: 403, title: 'Forbidden' },
  ERR_POLICY_ERROR: { status: 500, title: 'Policy evaluation failed' },
  ERR_POLICY_INVALID: { status: 400, title: 'Invalid policy' },
  ERR_POLICY_TIMEOUT: { status: 504, title: 'Policy evaluation timed out' },
  ERR_RATE_LIMITED: { status: 429, title: 'Too Many Requests' },
  ERR_VALIDATION_FAILED: { status: 400, title: 'Bad Request' },
  ERR_REQUEST_MALFORMED: { status: 400, title: 'Bad Request' },
  ERR_REQUEST_TOO_LARGE: { status: 413, title: 'Payload Too Large' },
  ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type' },
  ERR_REQUEST_METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed' },
  ERR_RESOURCE_NOT_FOUND: { status: 404, title: 'Not Found' },
  ERR_RESOURCE_CONFLICT: { status: 409, title: 'Conflict' },
  ERR_STORE_CONFLICT: { status: 409, title: 'Conflict' },
  ERR_STORE_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  ERR_SIDECAR_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  ERR_UPSTREAM_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  ERR_INTERNAL: { status: 500, title: 'Internal Server Error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export interface ApiErrorOptions {
  /** The request field the error is about, e.g. `email` or `body.name`. */
  field?: string;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`, ...). */
  headers?: Record<string, string>;
  /** Whether `message` may be shown to the caller; defaults to true below 500. */
  expose?: boolean;
  cause?: unknown;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.expose = options.expose ?? this.status < 500;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  get title(): string {
    return API_ERRORS[this.code].title;
  }

  /** The message a caller may see: the real one when exposed, the generic title otherwise. */
  get publicMessage(): string {
    return this.expose ? this.message : this.title;
  }

  /** Normalises anything thrown into an ApiError; unknown errors become a non-exposed ERR_INTERNAL. */
  static from(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    return new ApiError('ERR_INTERNAL', err instanceof Error ? err.message : String(err), {
      expose: false,
      cause: err,
    });
  }
}

export function isApiErrorCode(value: unknown): value is ApiErrorCode {
  return typeof value === 'string' && Object.hasOwn(API_ERRORS, value);
}
