import { CpodError, errorFromResponse, parseRetryAfter, type ReceivedResponse } from './errors.js';

/** How requests go over the wire: which fetch, how long to wait, how to retry 429/503. */
export interface TransportOptions {
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Per attempt, covering headers and body (default 10 000 ms). */
  timeoutMs?: number;
  /** Retries after a 429 or 503 (default 1). */
  maxRetries?: number;
  /** Longest wait before a retry (default 30 000 ms); a longer `Retry-After` is handed to the caller instead. */
  maxRetryDelayMs?: number;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected by tests; jitter source in [0, 1). */
  random?: () => number;
}

export interface OutgoingRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;
const BACKOFF_BASE_MS = 500;

export const USER_AGENT = 'cpod-sdk/0.1.0';

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What to print for a request: method and path only, because query strings may carry cursors or ids. */
function describe(request: OutgoingRequest): string {
  try {
    return `${request.method} ${new URL(request.url).pathname}`;
  } catch {
    return request.method;
  }
}

/**
 * One attempt. The body is read inside the timeout so a server that sends headers and then stalls
 * cannot hang the caller. Failures without a response become a `CpodError` with status 0.
 */
export async function sendOnce(
  request: OutgoingRequest,
  options: TransportOptions = {},
): Promise<ReceivedResponse> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchImpl(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: controller.signal,
      // Following a redirect would turn a POST into a GET and replay the request somewhere the
      // caller did not configure; a redirect from an API endpoint is a misconfiguration to surface.
      redirect: 'manual',
    });
    const body = await response.text();
    return { status: response.status, statusText: response.statusText, headers: response.headers, body };
  } catch (err) {
    if (controller.signal.aborted) {
      throw new CpodError({
        status: 0,
        code: 'ERR_SDK_TIMEOUT',
        message: `${describe(request)} timed out after ${timeoutMs} ms`,
      });
    }
    const reason = err instanceof Error ? (causeMessage(err) ?? err.message) : String(err);
    throw new CpodError({
      status: 0,
      code: 'ERR_SDK_NETWORK',
      message: `${describe(request)} failed: ${reason}`,
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** undici reports every failure as "fetch failed"; the useful part (ECONNREFUSED, ...) is in `cause`. */
function causeMessage(err: Error): string | undefined {
  const cause: unknown = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${cause.message})` : cause.message;
  }
  return undefined;
}

function retryable(status: number): boolean {
  return status === 429 || status === 503;
}

/**
 * Sends a request, retrying after 429 and 503 (by default once), and returns the final response
 * whatever its status; mapping it to an error is the caller's business.
 *
 * Non-idempotent requests (POST) are retried too: the gateway answers 429 from the rate limiter and
 * 503 when the sidecar is unreachable, both before the handler runs, so the first attempt had no effect.
 *
 * The wait is the server's `Retry-After`; without one, exponential backoff with jitter. A
 * `Retry-After` longer than `maxRetryDelayMs` is not waited out: the response goes back to the
 * caller at once (as a `RateLimitError` carrying `retryAfter`), because blocking a request for
 * minutes is worse than letting the application decide.
 */
export async function sendWithRetry(
  request: OutgoingRequest,
  options: TransportOptions = {},
): Promise<ReceivedResponse> {
  const maxRetries = options.maxRetries ?? 1;
  const maxDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    const response = await sendOnce(request, options);
    if (!retryable(response.status) || attempt >= maxRetries) return response;
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    let delayMs: number;
    if (retryAfter !== undefined) {
      delayMs = retryAfter * 1000;
      if (delayMs > maxDelayMs) return response;
    } else {
      const ceiling = Math.min(maxDelayMs, BACKOFF_BASE_MS * 2 ** attempt);
      delayMs = ceiling / 2 + random() * (ceiling / 2);
    }
    await sleep(delayMs);
  }
}

/** Where bearer tokens come from; {@link TokenManager} is the implementation. */
export interface TokenSource {
  getToken(): Promise<string>;
  /** Drops the cached token; with `token`, only if that is still the cached one. */
  invalidate(token?: string): void;
  /** Replaces secrets (client secret, tokens) in text that is about to go into an error message. */
  redact?(text: string): string;
}

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** Serialised as JSON. */
  body?: unknown;
}

export interface HttpClientOptions extends TransportOptions {
  baseUrl: string;
  tokens: TokenSource;
}

/**
 * Authenticated JSON requests against the gateway: bearer token from the {@link TokenSource}, one
 * retry with a fresh token after a 401, 429/503 retries from {@link sendWithRetry}, and problem+json
 * responses mapped to the SDK's error classes.
 */
export class HttpClient {
  readonly baseUrl: string;
  readonly #tokens: TokenSource;
  readonly #transport: TransportOptions;

  constructor(options: HttpClientOptions) {
    const { baseUrl, tokens, ...transport } = options;
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#tokens = tokens;
    this.#transport = transport;
  }

  /**
   * Resolves to the parsed JSON body, or `undefined` for an empty body (204). The type parameter is
   * trusted, not checked: the server's contract is the source of truth for the shape.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const response = await this.#send(method, this.#url(path, options.query), body);
    if (response.status < 200 || response.status >= 300) throw errorFromResponse(response, this.#redact);
    return parseBody<T>(response, method, path);
  }

  /**
   * POSTs a GraphQL request body to `/graphql` with the same token handling and retries, and returns
   * the status with the parsed body — GraphQL reports most failures inside a JSON body, even with a
   * 4xx status, so only problem+json (rejected before GraphQL ran: 401, 403, 429, ...) and non-JSON
   * responses become errors here. Structurally implements the GraphQL client's transport.
   */
  async postGraphQL(body: string): Promise<{ status: number; body: unknown }> {
    const response = await this.#send(
      'POST',
      this.#url('/graphql', undefined),
      body,
      'application/graphql-response+json, application/json',
    );
    const contentType = response.headers.get('content-type') ?? '';
    if (/problem\+json/i.test(contentType)) throw errorFromResponse(response, this.#redact);
    if (!/[/+]json\b/i.test(contentType)) {
      if (response.status < 200 || response.status >= 300) throw errorFromResponse(response, this.#redact);
      throw invalidResponse(response, 'POST', '/graphql');
    }
    return { status: response.status, body: parseBody<unknown>(response, 'POST', '/graphql') };
  }

  readonly #redact = (text: string): string => this.#tokens.redact?.(text) ?? text;

  async #send(
    method: string,
    url: string,
    body: string | undefined,
    accept = 'application/json',
  ): Promise<ReceivedResponse> {
    const headers: Record<string, string> = { accept, 'user-agent': USER_AGENT };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // A 401 usually means the cached token expired early or was revoked; one fresh token settles
    // that, and a second 401 means the credentials themselves no longer work.
    for (let authAttempt = 0; ; authAttempt++) {
      const token = await this.#tokens.getToken();
      const response = await sendWithRetry(
        { method, url, headers: { ...headers, authorization: `Bearer ${token}` }, body },
        this.#transport,
      );
      if (response.status !== 401 || authAttempt > 0) return response;
      this.#tokens.invalidate(token);
    }
  }

  #url(path: string, query: Record<string, QueryValue> | undefined): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) search.set(key, String(value));
    }
    const qs = search.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }
}

function invalidResponse(
  response: ReceivedResponse,
  method: string,
  path: string,
  cause?: unknown,
): CpodError {
  return new CpodError({
    status: response.status,
    code: 'ERR_SDK_INVALID_RESPONSE',
    message: `${method} ${path} returned ${response.status} with a body that is not JSON`,
    requestId: response.headers.get('x-request-id') ?? undefined,
    cause,
  });
}

function parseBody<T>(response: ReceivedResponse, method: string, path: string): T {
  if (response.body.trim() === '') return undefined as T;
  try {
    return JSON.parse(response.body) as T;
  } catch (err) {
    throw invalidResponse(response, method, path, err);
  }
}
