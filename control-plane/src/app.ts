import { ApiError, type DocumentStore, type Logger, problemResponse } from '@cpod/runtime';
import { Hono } from 'hono';
import { requireAdmin } from './admin-auth.js';
import { appRoutes } from './apps/app-routes.js';
import { tokenEventRoutes } from './events/token-event-routes.js';
import { authorizeRoutes } from './oauth/authorize-route.js';
import { browserClientCors } from './oauth/cors.js';
import type { FailureThrottleOptions } from './oauth/failure-throttle.js';
import { introspectRoute } from './oauth/introspect-route.js';
import { authorizationServerMetadata } from './oauth/metadata.js';
import { createOAuthContext } from './oauth/oauth-context.js';
import { OAuthError, oauthErrorResponse } from './oauth/oauth-error.js';
import { revocationFeedRoutes } from './oauth/revocation-feed-route.js';
import { revokeRoute } from './oauth/revoke-route.js';
import { tokenRoute } from './oauth/token-route.js';
import type { SigningKeys } from './signing-keys.js';
import { userRoutes } from './users/user-routes.js';

export interface ControlPlaneDeps {
  store: DocumentStore;
  keys: SigningKeys;
  logger: Logger;
  adminToken: string;
  /** May read GET /v1/revocations only (the gateways' credential). */
  revocationFeedToken?: string | undefined;
  issuer: string;
  audience: string;
  /** At most 3600. */
  accessTokenTtlSeconds: number;
  /** Absolute lifetime of a refresh-token family; default 30 days. */
  refreshTokenTtlSeconds?: number;
  maxBodyBytes?: number;
  /** Login-form CSRF key; default derived from the admin token. */
  csrfKey?: Uint8Array;
  /** Failed-attempt throttling of the token and login endpoints; default 10 per 60 s. */
  throttle?: FailureThrottleOptions;
  /** How long a verified client secret is remembered (ms); 0 turns the cache off. Default 30 000. */
  secretCacheTtlMs?: number;
  /** Milliseconds since the epoch, for tests of expiry. */
  clock?: () => number;
}

export function createControlPlaneApp(deps: ControlPlaneDeps): Hono {
  const maxBodyBytes = deps.maxBodyBytes ?? 65_536;
  const app = new Hono();
  const oauth = createOAuthContext({ ...deps, maxBodyBytes });
  const authorize = authorizeRoutes(oauth);

  app.get('/v1/oauth/authorize', authorize.get);
  app.post('/v1/oauth/authorize', authorize.post);
  const cors = browserClientCors(deps.store, oauth.clock);
  app.on(['POST', 'OPTIONS'], ['/v1/oauth/token', '/v1/oauth/revoke'], cors);
  app.post('/v1/oauth/token', tokenRoute(oauth));
  app.post('/v1/oauth/revoke', revokeRoute(oauth));
  app.post('/v1/oauth/introspect', introspectRoute(oauth));

  const jwks = (c: { json: (body: unknown) => Response; header: (k: string, v: string) => void }) => {
    c.header('cache-control', 'public, max-age=60');
    return c.json(deps.keys.jwks());
  };
  app.get('/api/v1/jwks', jwks);
  app.get('/.well-known/jwks.json', jwks);
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(authorizationServerMetadata(deps.issuer)));

  app.post('/v1/keys/rotate', requireAdmin(deps.adminToken), async (c) => {
    const { kid, previousKid } = await deps.keys.rotate();
    deps.logger.info('signing key rotated', { kid, previous_kid: previousKid });
    return c.json({ kid, previous_kid: previousKid, jwks_kids: deps.keys.jwks().keys.map((k) => k.kid) });
  });

  app.use('/v1/oauth/apps', requireAdmin(deps.adminToken));
  app.use('/v1/oauth/apps/*', requireAdmin(deps.adminToken));
  app.route('/v1/oauth/apps', appRoutes(deps.store, maxBodyBytes));
  app.use('/v1/users', requireAdmin(deps.adminToken));
  app.use('/v1/users/*', requireAdmin(deps.adminToken));
  app.route('/v1/users', userRoutes(deps.store, maxBodyBytes));
  app.use('/v1/token-events', requireAdmin(deps.adminToken));
  app.route('/v1/token-events', tokenEventRoutes(deps.store));
  app.use('/v1/revocations', requireAdmin(deps.adminToken, { alsoAccept: deps.revocationFeedToken }));
  app.route('/v1/revocations', revocationFeedRoutes(deps.store, oauth.clock));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await deps.store.ping();
      return c.json({ status: 'ready' });
    } catch {
      return c.json({ status: 'not ready', reason: 'document store unreachable' }, 503);
    }
  });

  app.notFound((c) =>
    problemResponse(new ApiError('ERR_RESOURCE_NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)),
  );
  app.onError((err, c) => {
    if (err instanceof OAuthError) return oauthErrorResponse(err, Boolean(c.req.header('authorization')));
    const error = ApiError.from(err);
    if (error.status >= 500) deps.logger.error('request failed', { err, path: c.req.path });
    // OAuth endpoints answer in RFC 6749 format even for unexpected failures.
    if (c.req.path.startsWith('/v1/oauth/') && !c.req.path.startsWith('/v1/oauth/apps')) {
      return oauthErrorResponse(
        new OAuthError(error.status >= 500 ? 'server_error' : 'invalid_request', error.publicMessage),
        false,
      );
    }
    return problemResponse(error);
  });
  return app;
}
