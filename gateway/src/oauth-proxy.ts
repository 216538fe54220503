import { ApiError, type Logger, readTextBody } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';

/** Paths the gateway forwards to the control plane unchanged (ARCHITECTURE §6). */
export const PROXIED_PATHS = new Set([
  '/v1/oauth/authorize',
  '/v1/oauth/token',
  '/v1/oauth/revoke',
  '/v1/oauth/introspect',
  '/api/v1/jwks',
  '/.well-known/jwks.json',
  '/.well-known/oauth-authorization-server',
]);

const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'authorization',
  'accept',
  // The login form's CSRF cookie, and CORS for browser clients.
  'cookie',
  'origin',
  'access-control-request-method',
  'access-control-request-headers',
];
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'cache-control',
  'pragma',
  'www-authenticate',
  'retry-after',
  // The authorization endpoint redirects back to the client and renders the login page.
  'location',
  'content-security-policy',
  'x-frame-options',
  'referrer-policy',
  'x-content-type-options',
  'vary',
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
];

/**
 * Forwards OAuth requests to the internal control plane, so clients only ever see the
 * gateway. `X-Forwarded-For` is set from the socket address — whatever the caller sent is
 * dropped — so the control plane throttles failures per real source address. A successful
 * revocation is also handed to the sidecar at once; revocations made elsewhere arrive through
 * the revocation feed (startRevocationFeed).
 */
export function createOAuthProxy(options: {
  controlPlaneUrl: string;
  sidecar: SidecarClient;
  maxBodyBytes: number;
  logger: Logger;
}) {
  return async (request: Request, remoteAddress?: string): Promise<Response> => {
    const url = new URL(request.url);
    const body = request.method === 'POST' ? await readTextBody(request, options.maxBodyBytes) : undefined;
    const headers = new Headers();
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers.get(name);
      if (value) headers.set(name, value);
    }
    if (remoteAddress) headers.set('x-forwarded-for', stripV4Mapped(remoteAddress));
    let upstream: Response;
    try {
      upstream = await fetch(new URL(url.pathname + url.search, options.controlPlaneUrl), {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new ApiError('ERR_UPSTREAM_UNAVAILABLE', 'the authorization server is unavailable', {
        headers: { 'retry-after': '1' },
        cause: err,
        expose: true,
      });
    }
    if (url.pathname === '/v1/oauth/revoke' && upstream.status === 200 && body) {
      const token = revokedToken(body, request.headers.get('content-type'));
      if (token) {
        await options.sidecar.revokeToken({ token }).catch((err: unknown) => {
          options.logger.error('revocation could not be handed to the sidecar', { err });
        });
      }
    }
    const responseHeaders = new Headers();
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value) responseHeaders.set(name, value);
    }
    for (const cookie of upstream.headers.getSetCookie()) responseHeaders.append('set-cookie', cookie);
    return new Response(upstream.body, { status: upstream.status, headers: responseHeaders });
  };
}

/** `::ffff:1.2.3.4` is how a dual-stack socket reports an IPv4 peer; the control plane wants `1.2.3.4`. */
function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function revokedToken(body: string, contentType: string | null): string | undefined {
  try {
    if (contentType?.includes('json')) {
      const parsed = JSON.parse(body) as { token?: unknown };
      return typeof parsed.token === 'string' ? parsed.token : undefined;
    }
    return new URLSearchParams(body).get('token') ?? undefined;
  } catch {
    return undefined;
  }
}

interface FeedPage {
  revocations: Array<{ id: string; jti: string; expires_at: number }>;
  next_cursor: string | null;
  server_time: number;
}

export interface RevocationFeedOptions {
  controlPlaneUrl: string;
  /** CPOD_REVOCATION_FEED_TOKEN: reads the feed, nothing else of the admin API. */
  feedToken: string;
  sidecar: SidecarClient;
  logger: Logger;
  /** Default 250 ms: a revoked token is refused by this gateway within about that long. */
  intervalMs?: number;
  /** Every so often the whole live feed is handed over again, for a sidecar that restarted. Default 60 s. */
  resyncMs?: number;
}

/**
 * Polls the control plane's revocation feed (`GET /v1/revocations`) and hands each revoked
 * access token to this gateway's sidecar. Revocations that do not pass through this gateway's
 * revoke proxy — a refresh-token replay ending a family, a replayed authorization code, a
 * revocation through another replica — reach the sidecar this way.
 *
 * Each poll looks back a few seconds (by the control plane's clock) so an entry that committed
 * after a later one is not skipped; entries already handed over are remembered until they fall
 * out of that window, so each is sent about once. Handing a jti over twice is harmless.
 */
export function startRevocationFeed(options: RevocationFeedOptions): { stop(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 250;
  const resyncMs = options.resyncMs ?? 60_000;
  const LOOK_BACK_MS = 5_000;
  const REPORT_AFTER_MS = 10_000;
  const delivered = new Map<string, number>();
  let since: number | undefined;
  let lastFullSync = 0;
  /** When the current run of failed polls began, and whether it has been reported. */
  let failingSince: number | undefined;
  let reported = false;
  // Stopping aborts a poll in flight and the wait between polls, so shutdown is not held up.
  const stopping = new AbortController();

  /** Resolves after `ms`, or at once when stopping; `abort` fires on either. */
  const untilStopOr = (ms: number) => {
    const abort = new AbortController();
    const done = () => abort.abort();
    const timer = setTimeout(done, ms);
    stopping.signal.addEventListener('abort', done, { once: true });
    const finished = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve()));
    const release = () => {
      clearTimeout(timer);
      stopping.signal.removeEventListener('abort', done);
    };
    return { signal: abort.signal, finished, release };
  };

  const fetchPage = async (query: URLSearchParams): Promise<FeedPage> => {
    const deadline = untilStopOr(5_000);
    try {
      const res = await fetch(new URL(`/v1/revocations?${query}`, options.controlPlaneUrl), {
        headers: { authorization: `Bearer ${options.feedToken}` },
        signal: deadline.signal,
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`revocation feed answered ${res.status}`);
      }
      return (await res.json()) as FeedPage;
    } finally {
      deadline.release();
    }
  };

  const poll = async () => {
    const fullSync = since === undefined || Date.now() - lastFullSync >= resyncMs;
    const query = new URLSearchParams({ limit: '500' });
    if (!fullSync && since !== undefined) query.set('since', String(since));
    let serverTime: number | undefined;
    for (;;) {
      const page = await fetchPage(query);
      serverTime ??= page.server_time;
      for (const entry of page.revocations) {
        if (!fullSync && delivered.has(entry.id)) continue;
        await options.sidecar.revokeToken({ tokenId: entry.jti, expiresAt: entry.expires_at });
        delivered.set(entry.id, page.server_time);
      }
      if (!page.next_cursor) break;
      query.set('after', page.next_cursor);
    }
    if (fullSync) lastFullSync = Date.now();
    since = serverTime - LOOK_BACK_MS;
    for (const [id, seenAt] of delivered) {
      if (seenAt < since - LOOK_BACK_MS) delivered.delete(id);
    }
  };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await poll();
        if (reported) options.logger.info('revocation feed is reachable again');
        failingSince = undefined;
        reported = false;
      } catch (err) {
        if (stopping.signal.aborted) break;
        // Reported once per outage, and only when it outlasts a start-up race with the control
        // plane; the next poll retries from the same point.
        failingSince ??= Date.now();
        if (!reported && Date.now() - failingSince >= REPORT_AFTER_MS) {
          options.logger.error('revocation feed could not be read', { err });
          reported = true;
        }
      }
      const pause = untilStopOr(intervalMs);
      await pause.finished;
      pause.release();
    }
  })();

  return {
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}
