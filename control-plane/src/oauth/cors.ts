import type { DocumentStore } from '@cpod/runtime';
import type { MiddlewareHandler } from 'hono';
import { type AppRecord, appCollection, clientType, PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import type { OAuthEnv } from './client-endpoint.js';

const LOOPBACK_IP_ORIGIN = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/;
const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** How long the set of registered browser origins is reused for preflights. */
const ORIGIN_CACHE_MS = 5_000;

/** The origins a browser client may call from: those of its registered redirect URIs. */
export function appOrigins(app: AppRecord): string[] {
  return app.redirect_uris.flatMap((uri) => {
    try {
      return [new URL(uri).origin];
    } catch {
      return [];
    }
  });
}

/**
 * Whether `origin` is one of `allowed`. A loopback IP origin matches on any port, as its redirect
 * URI does (RFC 8252 §7.3): a native or local app's port is chosen at run time.
 */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes(origin)) return true;
  const host = LOOPBACK_IP_ORIGIN.exec(origin)?.[1];
  return host !== undefined && allowed.some((o) => LOOPBACK_IP_ORIGIN.exec(o)?.[1] === host);
}

/**
 * CORS for the endpoints a browser (public) client calls itself: token and revoke. Only the
 * origins of a public app's registered redirect URIs are answered, one origin at a time (never
 * `*`), and never with credentials — these endpoints authenticate by parameters, not cookies.
 *
 * A preflight carries no client_id, so it is answered for any public app's origin; the real
 * response is then readable only when the client that made it is public and registered that
 * origin, so one app's origin cannot read another app's token responses.
 */
export function browserClientCors(store: DocumentStore, clock: () => number): MiddlewareHandler<OAuthEnv> {
  const apps = appCollection(store);
  let cached: { origins: string[]; until: number } | undefined;

  const publicOrigins = async (): Promise<string[]> => {
    if (cached && cached.until > clock()) return cached.origins;
    const origins = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await apps.list(PLATFORM_NAMESPACE, { limit: 500, after });
      for (const app of page) {
        if (clientType(app) === 'public') for (const o of appOrigins(app)) origins.add(o);
      }
      if (page.length < 500) break;
      after = page.at(-1)?.id;
    }
    cached = { origins: [...origins], until: clock() + ORIGIN_CACHE_MS };
    return cached.origins;
  };

  return async (c, next) => {
    const origin = c.req.header('origin');
    if (c.req.method === 'OPTIONS') {
      c.header('vary', 'Origin');
      if (!origin || !originAllowed(origin, await publicOrigins())) return c.body(null, 403);
      c.header('access-control-allow-origin', origin);
      c.header('access-control-allow-methods', 'POST');
      c.header('access-control-allow-headers', 'content-type');
      c.header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS));
      return c.body(null, 204);
    }
    await next();
    c.header('vary', 'Origin');
    const app = c.get('oauth')?.app;
    if (origin && app && clientType(app) === 'public' && originAllowed(origin, appOrigins(app))) {
      c.header('access-control-allow-origin', origin);
    }
  };
}
