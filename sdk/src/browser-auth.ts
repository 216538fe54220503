/**
 * Browser sign-in for public clients: OAuth 2.0 authorization code with PKCE (RFC 6749 §4.1,
 * RFC 7636), refresh-token rotation and revocation (RFC 7009), as RFC 9700 recommends for apps that
 * cannot keep a client secret.
 *
 * Where the tokens end up matters more than how they were obtained: whatever this module returns is
 * readable by every script on the page, so one XSS bug is a stolen session. When you can, run this
 * flow in a backend-for-frontend instead — the BFF exchanges the code, keeps the refresh token in an
 * `HttpOnly; Secure; SameSite=Strict` (or `Lax`) cookie that page scripts cannot read, and gives the
 * browser only short-lived access tokens (or proxies the API calls itself). When the tokens have to
 * stay in the browser, keep them in memory rather than `localStorage`, and lean on rotation: a
 * refresh token that is used twice gets its whole family revoked by the server.
 *
 * Only web platform APIs are used here (fetch, URL, TextEncoder, Web Crypto), no Node built-ins, so
 * the module runs unchanged in a browser, a worker, Deno or Node.
 */
import {
  AuthError,
  CpodError,
  type CpodErrorOptions,
  errorForStatus,
  errorFromResponse,
  oauthErrorCode,
  parseJsonObject,
  type ReceivedResponse,
  redactSecrets,
  ValidationError,
} from './errors.js';
import { type OutgoingRequest, sendOnce, sendWithRetry, type TransportOptions } from './http.js';

/** A PKCE code verifier and its S256 challenge (RFC 7636 §4.1–4.2). */
export interface PkcePair {
  /** Kept by the client until the code exchange; 43 base64url characters. */
  verifier: string;
  /** `base64url(SHA-256(verifier))`, sent in the authorization request. */
  challenge: string;
}

/** The tokens of a signed-in user. */
export interface TokenSet {
  accessToken: string;
  /**
   * Single use: the server rotates it on every refresh, and presenting a rotated one again revokes
   * the whole family. `undefined` when the server issued none.
   */
  refreshToken: string | undefined;
  /** When the access token expires, in epoch milliseconds (measured from when the request was sent). */
  expiresAt: number;
  /** The granted scopes, space separated. */
  scope: string;
}

/**
 * Where {@link BrowserAuth} keeps the pending `state` and PKCE verifier between the redirect to the
 * login page and the callback. Methods may be synchronous or return promises.
 *
 * @example
 * // Survives the full-page redirect, is scoped to the tab and cleared when it closes.
 * const storage = webStorage(window.sessionStorage);
 */
export interface AuthStorage {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  set(key: string, value: string): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

/** The part of the Web Storage API (`sessionStorage`, `localStorage`) that {@link webStorage} needs. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Adapts `sessionStorage` (recommended: per tab, gone when the tab closes) or `localStorage` to
 * {@link AuthStorage}.
 *
 * @example
 * const auth = new BrowserAuth({
 *   baseUrl: 'https://api.example.com',
 *   clientId: 'app_123',
 *   redirectUri: `${location.origin}/callback`,
 *   storage: webStorage(sessionStorage),
 * });
 */
export function webStorage(storage: WebStorageLike): AuthStorage {
  return {
    get: (key) => storage.getItem(key),
    set: (key, value) => storage.setItem(key, value),
    delete: (key) => storage.removeItem(key),
  };
}

/**
 * An in-memory {@link AuthStorage}, the default. It does not survive a page load, so it only fits
 * flows where the callback is handled by the same page instance (a popup that posts its URL back,
 * a native app's loopback redirect, tests); a full-page redirect needs {@link webStorage}.
 *
 * @example
 * const auth = new BrowserAuth({ baseUrl, clientId, redirectUri, storage: memoryStorage() });
 */
export function memoryStorage(): AuthStorage {
  const entries = new Map<string, string>();
  return {
    get: (key) => entries.get(key),
    set: (key, value) => {
      entries.set(key, value);
    },
    delete: (key) => {
      entries.delete(key);
    },
  };
}

export interface BrowserAuthOptions extends TransportOptions {
  /** Gateway (or control plane) origin, e.g. `https://api.example.com`; a path prefix is kept. */
  baseUrl: string;
  /** The public client's id; there is no secret. */
  clientId: string;
  /** Registered redirect URI; sent unchanged in the authorization request and the code exchange. */
  redirectUri: string;
  /** Scopes to request (space separated, or a list); omitted means the app's registered scopes. */
  scope?: string | readonly string[] | undefined;
  /** Holds the pending sign-in between redirect and callback (default {@link memoryStorage}). */
  storage?: AuthStorage | undefined;
  /**
   * The authorization server's issuer. When set, callbacks must carry a matching `iss` parameter
   * (RFC 9207), which defends against mix-up attacks when an app talks to several servers.
   */
  issuer?: string | undefined;
  /** Clock in epoch milliseconds; injected by tests. */
  now?: () => number;
}

/** Used when the server omits `expires_in` (RFC 6749 makes it optional): short, so a stale token is not kept long. */
const DEFAULT_EXPIRES_IN_SECONDS = 60;

/**
 * How long a finished refresh is handed to late callers presenting the same (now rotated) refresh
 * token, instead of sending it again — which the server would treat as a replay and answer by
 * revoking the family. Covers callers that raced but lost by a few milliseconds.
 */
const REFRESH_REUSE_MS = 30_000;

const PENDING_KEY_PREFIX = 'cpod.oauth.pending.';

/**
 * Only CORS-safelisted headers, so the token and revocation requests are "simple" requests without
 * a preflight (no `user-agent`: browsers ignore it anyway).
 */
const FORM_HEADERS = {
  accept: 'application/json',
  'content-type': 'application/x-www-form-urlencoded',
} as const;

/** OAuth errors that mean the request itself was malformed, i.e. a client bug rather than a rejected sign-in. */
const REQUEST_ERRORS = new Set([
  'invalid_request',
  'unsupported_grant_type',
  'unsupported_response_type',
  'unsupported_token_type',
]);

/** OAuth errors that mean the server failed; worth retrying later, unlike a rejected grant. */
const SERVER_ERRORS = new Set(['server_error', 'temporarily_unavailable']);

interface PendingAuthorization {
  state: string;
  verifier: string;
}

interface RefreshEntry {
  promise: Promise<TokenSet>;
  settledAt: number | undefined;
}

type WebCrypto = typeof globalThis.crypto;

function webCrypto(): WebCrypto {
  const crypto: WebCrypto | undefined = globalThis.crypto;
  if (!crypto?.subtle || typeof crypto.getRandomValues !== 'function') {
    throw new CpodError({
      status: 0,
      code: 'ERR_SDK_CONFIG',
      message:
        'Web Crypto (crypto.subtle) is unavailable; browsers only provide it on https:// or localhost pages',
    });
  }
  return crypto;
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unpadded base64url (RFC 4648 §5), written out because `Buffer` is Node-only and `btoa` wants binary strings. */
function base64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += BASE64URL_ALPHABET.charAt((n >> (18 - 6 * c)) & 63);
  }
  return out;
}

function randomBase64url(byteLength: number): string {
  return base64url(webCrypto().getRandomValues(new Uint8Array(byteLength)));
}

const VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * The S256 code challenge of a verifier: `base64url(SHA-256(ascii(verifier)))` (RFC 7636 §4.2).
 * Rejects verifiers that are not 43–128 characters of `[A-Za-z0-9-._~]`.
 *
 * @example
 * await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
 * // → 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM' (RFC 7636 Appendix B)
 */
export async function pkceChallenge(verifier: string): Promise<string> {
  if (!VERIFIER_PATTERN.test(verifier)) {
    throw new CpodError({
      status: 0,
      code: 'ERR_SDK_INVALID_ARGUMENT',
      message: 'a PKCE code verifier must be 43-128 characters from A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)',
    });
  }
  const digest = await webCrypto().subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * A fresh PKCE pair: the verifier is 32 random bytes, base64url encoded (43 characters, 256 bits),
 * the challenge its S256 transform. {@link BrowserAuth.authorizeUrl} makes one for you; this is for
 * callers assembling their own authorization requests.
 *
 * @example
 * const { verifier, challenge } = await createPkcePair();
 * url.searchParams.set('code_challenge', challenge);
 * url.searchParams.set('code_challenge_method', 'S256');
 * // keep `verifier` for the token request
 */
export async function createPkcePair(): Promise<PkcePair> {
  const verifier = randomBase64url(32);
  return { verifier, challenge: await pkceChallenge(verifier) };
}

function configError(message: string): CpodError {
  return new CpodError({ status: 0, code: 'ERR_SDK_CONFIG', message });
}

/** Values are not echoed in messages: a misconfigured URL may embed credentials. */
function normaliseBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw configError('baseUrl is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(`baseUrl must be an http or https URL, got ${url.protocol}`);
  }
  if (url.search || url.hash) throw configError('baseUrl must not have a query string or fragment');
  if (url.username || url.password) throw configError('baseUrl must not contain credentials');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function checkRedirectUri(redirectUri: string): string {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    throw configError('redirectUri must be an absolute URL');
  }
  // RFC 6749 §3.1.2: the server appends the response to the query; a fragment would swallow it.
  if (url.hash || redirectUri.includes('#')) throw configError('redirectUri must not have a fragment');
  return redirectUri;
}

/** Compares in time independent of where the strings first differ. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i % (b.length || 1));
  return diff === 0;
}

/** Replaces every secret (and its URL-encoded form, as a server echoing the request body would show it). */
function redactor(secrets: ReadonlyArray<string | undefined>): (text: string) => string {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    needles.add(secret);
    needles.add(encodeURIComponent(secret));
  }
  return (text) => redactSecrets(text, needles);
}

/** The class for an OAuth error code: malformed requests are a client bug, server errors retryable, the rest a rejected sign-in. */
function oauthError(options: CpodErrorOptions): CpodError {
  const error = options.oauthError ?? '';
  if (REQUEST_ERRORS.has(error)) return new ValidationError(options);
  if (SERVER_ERRORS.has(error)) return new CpodError(options);
  return new AuthError(options);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Maps an RFC 6749 §5.2 error response: `code` is `ERR_AUTH_<ERROR>`, `oauthError` the OAuth error string.
 * 429 and 5xx keep their status-based class (so `RateLimitError.retryAfter` works); a body without
 * an `error` member is handled like any other API error.
 */
function errorFromOAuthResponse(
  response: ReceivedResponse,
  redact: (text: string) => string,
  what: string,
): CpodError {
  const body = parseJsonObject(response.body);
  const error = nonEmptyString(body?.error);
  if (error === undefined) return errorFromResponse(response, redact);
  const description = nonEmptyString(body?.error_description);
  const options: CpodErrorOptions = {
    status: response.status,
    code: oauthErrorCode(error),
    oauthError: error,
    message: redact(`${what} failed (${response.status} ${error})${description ? `: ${description}` : ''}`),
    detail: description === undefined ? undefined : redact(description),
    requestId: response.headers.get('x-request-id') ?? undefined,
  };
  if (response.status === 429 || response.status >= 500) return errorForStatus(options, response.headers);
  return oauthError(options);
}

function callbackError(code: string, message: string): AuthError {
  return new AuthError({ status: 0, code, message });
}

/**
 * Sign-in for browser apps (public clients) with the authorization code flow and PKCE: build the
 * login URL, handle the redirect back, refresh with rotation, and revoke on logout. Errors are
 * {@link CpodError} subclasses; for OAuth errors `code` is the platform code made from the OAuth error
 * (`ERR_AUTH_INVALID_GRANT`, as TokenManager uses) and `oauthError` the raw string (`invalid_grant`). Tokens, codes and verifiers never appear in error messages.
 *
 * Read the module comment on where to keep the tokens: a backend-for-frontend holding the refresh
 * token in an HttpOnly cookie is safer than any storage a page script can read.
 *
 * @example
 * const auth = new BrowserAuth({
 *   baseUrl: 'https://api.example.com',
 *   clientId: 'app_123',
 *   redirectUri: 'https://app.example.com/callback',
 *   scope: ['people:read', 'people:write'],
 *   storage: webStorage(sessionStorage),
 * });
 *
 * // On "Sign in":
 * location.assign(await auth.authorizeUrl());
 *
 * // On https://app.example.com/callback:
 * let tokens = await auth.handleCallback(location.href);
 * history.replaceState(null, '', '/'); // drop ?code=... from the address bar and history
 *
 * // Shortly before tokens.expiresAt:
 * tokens = await auth.refresh(tokens.refreshToken!);
 *
 * // On "Sign out":
 * await auth.logout(tokens);
 */
export class BrowserAuth {
  readonly baseUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  /** Space-separated requested scopes; `undefined` asks for the app's registered scopes. */
  readonly scope: string | undefined;
  readonly issuer: string | undefined;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly revocationEndpoint: string;
  readonly #storage: AuthStorage;
  readonly #pendingKey: string;
  readonly #transport: TransportOptions;
  readonly #now: () => number;
  /** Refreshes in flight or just finished, by the refresh token they spent. */
  readonly #refreshes = new Map<string, RefreshEntry>();

  constructor(options: BrowserAuthOptions) {
    const { baseUrl, clientId, redirectUri, scope, storage, issuer, now, ...transport } = options;
    if (typeof clientId !== 'string' || clientId.trim() === '') throw configError('clientId is required');
    this.baseUrl = normaliseBaseUrl(baseUrl);
    this.clientId = clientId;
    this.redirectUri = checkRedirectUri(redirectUri);
    this.scope = typeof scope === 'string' ? scope.trim() || undefined : scope?.join(' ') || undefined;
    this.issuer = issuer || undefined;
    this.authorizationEndpoint = `${this.baseUrl}/v1/oauth/authorize`;
    this.tokenEndpoint = `${this.baseUrl}/v1/oauth/token`;
    this.revocationEndpoint = `${this.baseUrl}/v1/oauth/revoke`;
    this.#storage = storage ?? memoryStorage();
    this.#pendingKey = `${PENDING_KEY_PREFIX}${clientId}`;
    this.#transport = transport;
    this.#now = now ?? Date.now;
  }

  /**
   * Starts a sign-in: generates a `state` (256 random bits) and a PKCE pair, saves them in the
   * storage — replacing any earlier pending sign-in — and returns the authorization URL to send the
   * user to. Nothing is sent to the server.
   *
   * @example
   * location.assign(await auth.authorizeUrl());
   */
  async authorizeUrl(): Promise<string> {
    const state = randomBase64url(32);
    const { verifier, challenge } = await createPkcePair();
    const pending: PendingAuthorization = { state, verifier };
    await this.#storage.set(this.#pendingKey, JSON.stringify(pending));
    const url = new URL(this.authorizationEndpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('redirect_uri', this.redirectUri);
    if (this.scope) url.searchParams.set('scope', this.scope);
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.toString();
  }

  /**
   * Completes a sign-in from the URL the server redirected back to: checks `state` against the
   * pending sign-in (and `iss`, when {@link BrowserAuthOptions.issuer} is set), then exchanges the
   * code with the saved PKCE verifier.
   *
   * The pending sign-in is removed before anything is checked, so each one completes at most once:
   * a replayed callback, or a second call for the same sign-in, is rejected. Rejects with an
   * {@link AuthError} whose `code` is
   * - `ERR_AUTH_STATE_MISSING` / `ERR_AUTH_STATE_MISMATCH` — not the response to our request (CSRF);
   * - `ERR_AUTH_NO_PENDING_AUTHORIZATION` — nothing pending (already handled, or started in
   *   another tab or with other storage);
   * - `ERR_AUTH_ISSUER_MISMATCH`, `ERR_AUTH_INVALID_CALLBACK`;
   * - the OAuth error the server redirected with as a platform code (`access_denied` →
   *   `ERR_AUTH_ACCESS_DENIED`), the raw string in `oauthError` and its `error_description` in `detail`;
   * - the token endpoint's OAuth error (`ERR_AUTH_INVALID_GRANT`, ...) — an `AuthError` too, except that a
   *   malformed request (`invalid_request`, ...) is a `ValidationError`, a server failure a plain
   *   `CpodError` and a 429 a `RateLimitError`.
   *
   * @example
   * try {
   *   tokens = await auth.handleCallback(location.href);
   * } catch (err) {
   *   if (err instanceof AuthError && err.code === 'ERR_AUTH_ACCESS_DENIED') showMessage('Sign-in was cancelled');
   *   else throw err;
   * } finally {
   *   history.replaceState(null, '', '/');
   * }
   */
  async handleCallback(callbackUrl: string | URL): Promise<TokenSet> {
    const pending = await this.#takePending();
    let params: URLSearchParams;
    try {
      params = new URL(String(callbackUrl)).searchParams;
    } catch {
      throw callbackError('ERR_AUTH_INVALID_CALLBACK', 'the callback URL is not a valid absolute URL');
    }
    // RFC 6749 §3.1: a parameter must not appear twice; which copy wins would be up to the parser.
    const single = (name: string): string | undefined => {
      const values = params.getAll(name);
      if (values.length > 1) {
        throw callbackError('ERR_AUTH_INVALID_CALLBACK', `the callback repeats the ${name} parameter`);
      }
      return values[0] || undefined;
    };

    const state = single('state');
    if (state === undefined) {
      throw callbackError(
        'ERR_AUTH_STATE_MISSING',
        'the callback has no state parameter, so it cannot be tied to a sign-in this app started',
      );
    }
    if (pending === undefined) {
      throw callbackError(
        'ERR_AUTH_NO_PENDING_AUTHORIZATION',
        'no sign-in is pending: this callback was already handled, or authorizeUrl() ran in another tab or with other storage',
      );
    }
    if (!constantTimeEqual(state, pending.state)) {
      throw callbackError(
        'ERR_AUTH_STATE_MISMATCH',
        'the callback state does not match the pending sign-in (possible CSRF); start the sign-in again',
      );
    }
    if (this.issuer !== undefined && single('iss') !== this.issuer) {
      throw callbackError(
        'ERR_AUTH_ISSUER_MISMATCH',
        'the callback iss parameter does not match the configured issuer (RFC 9207)',
      );
    }

    const error = single('error');
    if (error !== undefined) {
      const description = single('error_description');
      // Always an AuthError, whatever the error: for the app, each one means "not signed in".
      throw new AuthError({
        status: 0,
        code: oauthErrorCode(error),
        oauthError: error,
        message: `sign-in failed (${error})${description ? `: ${description}` : ''}`,
        detail: description,
      });
    }
    const code = single('code');
    if (code === undefined) {
      throw callbackError(
        'ERR_AUTH_INVALID_CALLBACK',
        'the callback has neither a code nor an error parameter',
      );
    }
    return this.#grant(
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.redirectUri,
        code_verifier: pending.verifier,
        client_id: this.clientId,
      },
      [code, pending.verifier],
      undefined,
    );
  }

  /**
   * Exchanges a refresh token for a new {@link TokenSet}, whose `refreshToken` replaces the one
   * passed in (the old one is dead). Concurrent calls with the same refresh token share one request,
   * and calls up to 30 s after it finished get the same result: sending a rotated token again is a
   * replay, and the server revokes the whole family for it. A failed refresh is not shared; on
   * `invalid_grant` (`AuthError`) the user has to sign in again.
   *
   * Not retried automatically: if the server rotated the token but the response was lost, a retry
   * would be exactly such a replay.
   *
   * @example
   * const timer = setTimeout(async () => {
   *   tokens = await auth.refresh(tokens.refreshToken!);
   * }, tokens.expiresAt - Date.now() - 60_000);
   */
  refresh(refreshToken: string): Promise<TokenSet> {
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      return Promise.reject(
        new CpodError({
          status: 0,
          code: 'ERR_SDK_INVALID_ARGUMENT',
          message: 'refresh() needs the refreshToken of a previous TokenSet',
        }),
      );
    }
    this.#forgetOldRefreshes();
    const existing = this.#refreshes.get(refreshToken);
    if (existing) return existing.promise;

    const promise = this.#grant(
      { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: this.clientId },
      [refreshToken],
      refreshToken,
    ).then(
      (tokens) => {
        entry.settledAt = this.#now();
        return tokens;
      },
      (err: unknown) => {
        if (this.#refreshes.get(refreshToken) === entry) this.#refreshes.delete(refreshToken);
        throw err;
      },
    );
    // The callbacks above run asynchronously, after `entry` exists.
    const entry: RefreshEntry = { promise, settledAt: undefined };
    this.#refreshes.set(refreshToken, entry);
    return promise;
  }

  /**
   * Revokes the user's tokens (RFC 7009): the refresh token first, so no new access token can be
   * minted while the access token is being revoked. If a refresh of that refresh token is still in
   * flight, its result is awaited and revoked too. Every revocation is attempted; the first failure
   * is thrown afterwards. Forget the tokens locally whatever the outcome.
   *
   * @example
   * await auth.logout(tokens).finally(() => {
   *   tokens = undefined;
   * });
   */
  async logout(tokens: {
    accessToken?: string | undefined;
    refreshToken?: string | undefined;
  }): Promise<void> {
    const refreshTokens: string[] = [];
    const accessTokens: string[] = [];
    if (tokens.refreshToken) {
      refreshTokens.push(tokens.refreshToken);
      const entry = this.#refreshes.get(tokens.refreshToken);
      this.#refreshes.delete(tokens.refreshToken);
      const rotated = await entry?.promise.catch(() => undefined);
      if (rotated) {
        if (rotated.refreshToken) refreshTokens.push(rotated.refreshToken);
        accessTokens.push(rotated.accessToken);
      }
    }
    if (tokens.accessToken) accessTokens.unshift(tokens.accessToken);

    const revocations: Array<[string, 'refresh_token' | 'access_token']> = [
      ...[...new Set(refreshTokens)].map((token) => [token, 'refresh_token'] as [string, 'refresh_token']),
      ...[...new Set(accessTokens)].map((token) => [token, 'access_token'] as [string, 'access_token']),
    ];
    let firstError: unknown;
    for (const [token, hint] of revocations) {
      try {
        await this.#revoke(token, hint);
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  async #takePending(): Promise<PendingAuthorization | undefined> {
    const raw = await this.#storage.get(this.#pendingKey);
    await this.#storage.delete(this.#pendingKey);
    if (!raw) return undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      const { state, verifier } = (parsed ?? {}) as Partial<Record<keyof PendingAuthorization, unknown>>;
      if (typeof state === 'string' && state !== '' && typeof verifier === 'string' && verifier !== '') {
        return { state, verifier };
      }
    } catch {
      // Unreadable means someone else wrote the key; treat it as nothing pending.
    }
    return undefined;
  }

  #forgetOldRefreshes(): void {
    const cutoff = this.#now() - REFRESH_REUSE_MS;
    for (const [token, entry] of this.#refreshes) {
      if (entry.settledAt !== undefined && entry.settledAt < cutoff) this.#refreshes.delete(token);
    }
  }

  /** One token request. Sent once: replaying a code or a refresh token gets the grant revoked. */
  async #grant(
    form: Record<string, string>,
    secrets: readonly string[],
    previousRefreshToken: string | undefined,
  ): Promise<TokenSet> {
    // Measured before the request so latency shortens, never lengthens, the token's assumed lifetime.
    const startedAt = this.#now();
    const response = await sendOnce(this.#formRequest(this.tokenEndpoint, form), this.#transport);
    if (response.status !== 200) throw errorFromOAuthResponse(response, redactor(secrets), 'token request');
    return this.#tokenSet(response, startedAt, previousRefreshToken);
  }

  async #revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    // Revocation is idempotent, so the usual 429/503 retry is safe here.
    const response = await sendWithRetry(
      this.#formRequest(this.revocationEndpoint, { token, token_type_hint: hint, client_id: this.clientId }),
      this.#transport,
    );
    if (response.status !== 200) throw errorFromOAuthResponse(response, redactor([token]), 'revocation');
  }

  #formRequest(url: string, form: Record<string, string>): OutgoingRequest {
    return { method: 'POST', url, headers: { ...FORM_HEADERS }, body: new URLSearchParams(form).toString() };
  }

  #tokenSet(
    response: ReceivedResponse,
    startedAt: number,
    previousRefreshToken: string | undefined,
  ): TokenSet {
    const invalid = (why: string): CpodError =>
      new CpodError({
        status: response.status,
        code: 'ERR_SDK_INVALID_RESPONSE',
        message: `token endpoint returned an unusable response: ${why}`,
        requestId: response.headers.get('x-request-id') ?? undefined,
      });
    const body = parseJsonObject(response.body);
    if (body === undefined) throw invalid('body is not a JSON object');
    const accessToken = nonEmptyString(body.access_token);
    if (accessToken === undefined) throw invalid('no access_token');
    const tokenType = body.token_type;
    if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') {
      throw invalid('token_type is not Bearer');
    }
    const expiresIn = typeof body.expires_in === 'string' ? Number(body.expires_in) : body.expires_in;
    const lifetime =
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn
        : DEFAULT_EXPIRES_IN_SECONDS;
    return Object.freeze({
      accessToken,
      // RFC 6749 §6: without a new refresh token in the response, the one presented stays valid.
      refreshToken: nonEmptyString(body.refresh_token) ?? previousRefreshToken,
      expiresAt: startedAt + lifetime * 1000,
      // RFC 6749 §5.1: scope may be omitted when it is exactly what was requested.
      scope: typeof body.scope === 'string' ? body.scope : (this.scope ?? ''),
    });
  }
}
