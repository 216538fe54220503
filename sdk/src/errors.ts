/**
 * Codes the gateway puts in problem+json bodies, plus the SDK's own `ERR_SDK_*` codes for failures
 * that never produced a usable response. Open-ended so a newer server's codes still type-check.
 */
export type CpodErrorCode =
  | 'ERR_AUTH_MISSING_TOKEN'
  | 'ERR_AUTH_INVALID_TOKEN'
  | 'ERR_AUTH_REVOKED_TOKEN'
  | 'ERR_AUTH_INVALID_CLIENT'
  | 'ERR_AUTH_INVALID_SCOPE'
  | 'ERR_AUTH_INVALID_REQUEST'
  | 'ERR_POLICY_DENIED'
  | 'ERR_RESOURCE_NOT_FOUND'
  | 'ERR_VALIDATION_FAILED'
  | 'ERR_REQUEST_MALFORMED'
  | 'ERR_REQUEST_TOO_LARGE'
  | 'ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_SIDECAR_UNAVAILABLE'
  | 'ERR_INTERNAL'
  | 'ERR_SDK_CONFIG'
  | 'ERR_SDK_INVALID_ARGUMENT'
  | 'ERR_SDK_NETWORK'
  | 'ERR_SDK_TIMEOUT'
  | 'ERR_SDK_INVALID_RESPONSE'
  | (string & Record<never, never>);

export interface CpodErrorOptions {
  /** HTTP status of the response; `0` when no response was received (network failure, timeout, bad config). */
  status: number;
  code: CpodErrorCode;
  message: string;
  /** The problem's `detail` (or OAuth `error_description`), when the server sent one. */
  detail?: string | undefined;
  /** The offending input field, for validation errors. */
  field?: string | undefined;
  /** The server's `x-request-id`, to quote when asking for help. */
  requestId?: string | undefined;
  /** The problem's `type` URI. */
  type?: string | undefined;
  /** The RFC 6749 `error` string (`invalid_grant`, ...) when an OAuth endpoint answered with one. */
  oauthError?: string | undefined;
  cause?: unknown;
}

/**
 * The platform code for an OAuth error string: `invalid_grant` → `ERR_AUTH_INVALID_GRANT`. Used by
 * every OAuth path of the SDK, so one `code` style holds; the raw string stays in `oauthError`.
 */
export function oauthErrorCode(error: string): CpodErrorCode {
  return `ERR_AUTH_${error.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/**
 * Base class of every error the SDK throws. `status` is the HTTP status (`0` when there was no
 * response), `code` the platform's `ERR_<AREA>_<REASON>` code.
 *
 * @example
 * try {
 *   await client.people.get(id);
 * } catch (err) {
 *   if (err instanceof CpodError) console.error(err.status, err.code, err.requestId);
 *   throw err;
 * }
 */
export class CpodError extends Error {
  override name = 'CpodError';
  readonly status: number;
  readonly code: CpodErrorCode;
  readonly detail: string | undefined;
  readonly field: string | undefined;
  readonly requestId: string | undefined;
  readonly type: string | undefined;
  /** The RFC 6749 `error` string behind `code`, for errors from OAuth endpoints. */
  readonly oauthError: string | undefined;

  constructor(options: CpodErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.detail = options.detail;
    this.field = options.field;
    this.requestId = options.requestId;
    this.type = options.type;
    this.oauthError = options.oauthError;
  }
}

/**
 * The credentials or the access token were rejected: a 401 from the API (after one retry with a
 * fresh token), or a failure of the token endpoint itself (`invalid_client`, `invalid_scope`, ...).
 *
 * @example
 * catch (err) {
 *   if (err instanceof AuthError) console.error('check CPOD_CLIENT_ID / CPOD_CLIENT_SECRET:', err.code);
 * }
 */
export class AuthError extends CpodError {
  override name = 'AuthError';
}

/**
 * The policy denied the call (403); `message` carries the decision's reason.
 *
 * @example
 * catch (err) {
 *   if (err instanceof PolicyDeniedError) console.error('missing scope?', err.message);
 * }
 */
export class PolicyDeniedError extends CpodError {
  override name = 'PolicyDeniedError';
}

/**
 * The resource does not exist in the caller's tenant (404).
 *
 * @example
 * const person = await client.people.get(id).catch((err) => {
 *   if (err instanceof NotFoundError) return null;
 *   throw err;
 * });
 */
export class NotFoundError extends CpodError {
  override name = 'NotFoundError';
}

/**
 * The request was rejected as invalid (400, 413, 415, 422); `field` names the offending input when known.
 *
 * @example
 * catch (err) {
 *   if (err instanceof ValidationError) console.error(`invalid ${err.field ?? 'input'}: ${err.detail}`);
 * }
 */
export class ValidationError extends CpodError {
  override name = 'ValidationError';
}

export interface RateLimitErrorOptions extends CpodErrorOptions {
  retryAfter?: number | undefined;
  limit?: number | undefined;
  remaining?: number | undefined;
  reset?: number | undefined;
}

/**
 * Still rate limited (429) after the SDK's one automatic retry. `retryAfter` is the server's
 * `Retry-After` in seconds (undefined when it sent none).
 *
 * @example
 * catch (err) {
 *   if (err instanceof RateLimitError) await sleep((err.retryAfter ?? 1) * 1000);
 * }
 */
export class RateLimitError extends CpodError {
  override name = 'RateLimitError';
  /** Seconds to wait before trying again, from `Retry-After`. */
  readonly retryAfter: number | undefined;
  /** `RateLimit-Limit`: the bucket's capacity. */
  readonly limit: number | undefined;
  /** `RateLimit-Remaining`: requests left in the current window. */
  readonly remaining: number | undefined;
  /** `RateLimit-Reset`: seconds until the bucket is full again. */
  readonly reset: number | undefined;

  constructor(options: RateLimitErrorOptions) {
    super(options);
    this.retryAfter = options.retryAfter;
    this.limit = options.limit;
    this.remaining = options.remaining;
    this.reset = options.reset;
  }
}

/** A fully read HTTP response; the body is read inside the request timeout, so it is plain text here. */
export interface ReceivedResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

/**
 * `Retry-After` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or
 * unparseable.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

function numericHeader(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function stringField(object: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = object?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Codes used when the body is not problem+json (a proxy's HTML error page, an empty 502, ...). */
function fallbackCode(status: number, headers: Headers): CpodErrorCode {
  switch (status) {
    case 400:
      return 'ERR_REQUEST_MALFORMED';
    case 401:
      return /error="?invalid_token/.test(headers.get('www-authenticate') ?? '')
        ? 'ERR_AUTH_INVALID_TOKEN'
        : 'ERR_AUTH_MISSING_TOKEN';
    case 403:
      return 'ERR_POLICY_DENIED';
    case 404:
      return 'ERR_RESOURCE_NOT_FOUND';
    case 413:
      return 'ERR_REQUEST_TOO_LARGE';
    case 415:
      return 'ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE';
    case 422:
      return 'ERR_VALIDATION_FAILED';
    case 429:
      return 'ERR_RATE_LIMITED';
    default:
      return status >= 500 ? 'ERR_INTERNAL' : `ERR_HTTP_${status}`;
  }
}

/** Picks the error class by status, so `instanceof` works whatever the body looked like. */
export function errorForStatus(options: CpodErrorOptions, headers: Headers): CpodError {
  switch (options.status) {
    case 401:
      return new AuthError(options);
    case 403:
      return new PolicyDeniedError(options);
    case 404:
      return new NotFoundError(options);
    case 400:
    case 413:
    case 415:
    case 422:
      return new ValidationError(options);
    case 429:
      return new RateLimitError({
        ...options,
        retryAfter: parseRetryAfter(headers.get('retry-after')),
        limit: numericHeader(headers, 'ratelimit-limit'),
        remaining: numericHeader(headers, 'ratelimit-remaining'),
        reset: numericHeader(headers, 'ratelimit-reset'),
      });
    default:
      return new CpodError(options);
  }
}

/**
 * Maps a failed API response to the matching error class, reading RFC 9457 problem+json when the
 * server sent it and falling back to the status otherwise. `redact` scrubs anything secret out of
 * server-provided text before it lands in a message that may be logged.
 */
export function errorFromResponse(
  response: ReceivedResponse,
  redact: (text: string) => string = (text) => text,
): CpodError {
  const { status, headers } = response;
  const contentType = headers.get('content-type') ?? '';
  const problem = /[/+]json\b/i.test(contentType) ? parseJsonObject(response.body) : undefined;
  const code = stringField(problem, 'code') ?? fallbackCode(status, headers);
  const title = stringField(problem, 'title');
  const detail = stringField(problem, 'detail');
  const summary = detail ?? title ?? (response.statusText || 'request failed');
  return errorForStatus(
    {
      status,
      code,
      message: redact(`${status} ${code}: ${summary}`),
      detail: detail === undefined ? undefined : redact(detail),
      field: stringField(problem, 'field'),
      requestId: headers.get('x-request-id') ?? undefined,
      type: stringField(problem, 'type'),
    },
    headers,
  );
}

/**
 * Maps a failed token-endpoint response (RFC 6749 §5.2 `{error, error_description}`). Rejected
 * credentials or scope are an {@link AuthError} whatever the status; 429 stays a
 * {@link RateLimitError} and 5xx a plain {@link CpodError}, because those are worth retrying later
 * while a rejected client is not.
 */
export function errorFromTokenResponse(
  response: ReceivedResponse,
  redact: (text: string) => string = (text) => text,
): CpodError {
  const { status, headers } = response;
  if (status === 429 || status >= 500) return errorFromResponse(response, redact);
  const body = parseJsonObject(response.body);
  const oauthError = stringField(body, 'error');
  const description = stringField(body, 'error_description');
  const code = oauthError ? oauthErrorCode(oauthError) : `ERR_AUTH_TOKEN_${status}`;
  const summary = description ?? oauthError ?? (response.statusText || 'token request failed');
  return new AuthError({
    status,
    code,
    message: redact(`token request failed (${status} ${oauthError ?? code}): ${summary}`),
    detail: description === undefined ? undefined : redact(description),
    requestId: headers.get('x-request-id') ?? undefined,
    oauthError,
  });
}

/**
 * Replaces each secret in `text` with `[REDACTED]`. A short secret would also match inside ordinary
 * words ("s" in "scope"), so only its standalone occurrences are replaced.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    if (secret.length >= 8) {
      out = out.split(secret).join('[REDACTED]');
    } else {
      const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'gu'), '[REDACTED]');
    }
  }
  return out;
}
