import { CpodError, errorFromTokenResponse, redactSecrets } from './errors.js';
import { sendWithRetry, type TokenSource, type TransportOptions, USER_AGENT } from './http.js';

export interface TokenManagerOptions extends TransportOptions {
  /** Gateway (or control plane) origin, e.g. `http://localhost:8000`. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes (or a list); omitted means the app's registered scopes. */
  scope?: string | readonly string[] | undefined;
  /** Overrides `{baseUrl}/v1/oauth/token`. */
  tokenUrl?: string;
  /** Fraction of `expires_in` after which the token is replaced (default 0.8). */
  refreshRatio?: number;
  /** Clock in epoch milliseconds; injected by tests. */
  now?: () => number;
}

/** Used when the server omits `expires_in` (RFC 6749 makes it optional): short, so a stale token is not kept long. */
const DEFAULT_EXPIRES_IN_SECONDS = 60;

interface CachedToken {
  token: string;
  refreshAt: number;
}

/**
 * `application/x-www-form-urlencoded` encoding of one value, which RFC 6749 §2.3.1 requires for
 * the client id and secret before they are joined for HTTP Basic — a `:` in either would otherwise
 * split the pair at the wrong place.
 */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** The `Authorization` header value for client authentication with HTTP Basic (RFC 6749 §2.3.1). */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const pair = `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

/**
 * OAuth2 client-credentials tokens for the gateway: fetched on first use, cached, replaced once
 * 80 % of `expires_in` has passed, with concurrent callers sharing one in-flight request. Used by
 * the REST client and meant to be shared with any other client of the same app.
 *
 * The client secret and tokens live in private fields so they do not show up in `console.log`.
 *
 * @example
 * const tokens = new TokenManager({ baseUrl: 'http://localhost:8000', clientId, clientSecret });
 * const res = await fetch(url, { headers: { authorization: `Bearer ${await tokens.getToken()}` } });
 * if (res.status === 401) tokens.invalidate();
 */
export class TokenManager implements TokenSource {
  readonly clientId: string;
  readonly tokenUrl: string;
  readonly scope: string | undefined;
  readonly #clientSecret: string;
  readonly #transport: TransportOptions;
  readonly #refreshRatio: number;
  readonly #now: () => number;
  #cached: CachedToken | undefined;
  #inflight: Promise<string> | undefined;
  /** The last few tokens handed out (requests may still be in flight with an older one), for {@link redact}. */
  #issued: string[] = [];

  constructor(options: TokenManagerOptions) {
    const { baseUrl, clientId, clientSecret, scope, tokenUrl, refreshRatio, now, ...transport } = options;
    this.clientId = clientId;
    this.#clientSecret = clientSecret;
    this.tokenUrl = tokenUrl ?? `${baseUrl.replace(/\/+$/, '')}/v1/oauth/token`;
    this.scope = typeof scope === 'string' ? scope || undefined : scope?.join(' ') || undefined;
    this.#transport = transport;
    this.#refreshRatio = refreshRatio ?? 0.8;
    this.#now = now ?? Date.now;
  }

  /** A valid access token, from the cache or the token endpoint. */
  getToken(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.refreshAt) return Promise.resolve(cached.token);
    if (!this.#inflight) {
      this.#inflight = this.#fetchToken().finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  /**
   * Forgets the cached token so the next `getToken()` fetches a new one. Pass the token that was
   * rejected: when many requests fail with the same expired token, only the first invalidation
   * counts and a token fetched meanwhile is kept.
   */
  invalidate(token?: string): void {
    if (token === undefined || this.#cached?.token === token) this.#cached = undefined;
  }

  /** Replaces the client secret and any token this manager handed out with `[REDACTED]`. */
  redact(text: string): string {
    return redactSecrets(text, [this.#clientSecret, formUrlEncode(this.#clientSecret), ...this.#issued]);
  }

  async #fetchToken(): Promise<string> {
    // Measured before the request so network latency shortens, never lengthens, the cache lifetime.
    const startedAt = this.#now();
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.scope) form.set('scope', this.scope);
    // The token endpoint is safe to retry on 429/503 like any other call: nothing was issued.
    const response = await sendWithRetry(
      {
        method: 'POST',
        url: this.tokenUrl,
        headers: {
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basicAuthorization(this.clientId, this.#clientSecret),
          'user-agent': USER_AGENT,
        },
        body: form.toString(),
      },
      this.#transport,
    );
    const redact = (text: string): string => this.redact(text);
    if (response.status !== 200) throw errorFromTokenResponse(response, redact);

    const invalid = (why: string): CpodError =>
      new CpodError({
        status: response.status,
        code: 'ERR_SDK_INVALID_RESPONSE',
        message: `token endpoint returned an unusable response: ${why}`,
        requestId: response.headers.get('x-request-id') ?? undefined,
      });
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      throw invalid('body is not JSON');
    }
    if (typeof body !== 'object' || body === null) throw invalid('body is not an object');
    const {
      access_token: accessToken,
      token_type: tokenType,
      expires_in: expiresIn,
    } = body as Record<string, unknown>;
    if (typeof accessToken !== 'string' || accessToken === '') throw invalid('no access_token');
    if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') {
      throw invalid('token_type is not Bearer');
    }
    const lifetime =
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn
        : DEFAULT_EXPIRES_IN_SECONDS;
    this.#issued = [accessToken, ...this.#issued.slice(0, 3)];
    this.#cached = { token: accessToken, refreshAt: startedAt + lifetime * 1000 * this.#refreshRatio };
    return accessToken;
  }
}
