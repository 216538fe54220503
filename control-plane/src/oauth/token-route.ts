import { randomUUID } from 'node:crypto';
import type { DocumentStore, Logger } from '@cpod/runtime';
import type { Handler, MiddlewareHandler } from 'hono';
import { SignJWT } from 'jose';
import { type AppRecord, appCollection, PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { verifyClientSecret } from '../apps/client-secret.js';
import type { SigningKeys } from '../signing-keys.js';
import { OAuthError } from './oauth-error.js';
import { type ClientCredentials, readClientCredentials, readOAuthParams } from './token-request.js';

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  maxBodyBytes: number;
}

interface TokenState {
  params: Map<string, string>;
  credentials: ClientCredentials;
  app: AppRecord;
  scopes: string[];
}

type Env = { Variables: { oauth: Partial<TokenState> } };
type Step = MiddlewareHandler<Env>;

/**
 * POST /v1/oauth/token as an ordered list of named steps: each one reads what the
 * previous ones established and adds one fact, so the order is the security argument.
 */
export function tokenRoute(
  store: DocumentStore,
  keys: SigningKeys,
  settings: TokenSettings,
  logger: Logger,
): Handler<Env> {
  const apps = appCollection(store);

  const noStore: Step = async (c, next) => {
    c.set('oauth', {});
    c.header('cache-control', 'no-store');
    c.header('pragma', 'no-cache');
    await next();
  };

  const parseBody: Step = async (c, next) => {
    c.get('oauth').params = await readOAuthParams(c.req.raw, settings.maxBodyBytes);
    await next();
  };

  const authenticateClient: Step = async (c, next) => {
    const state = c.get('oauth');
    const credentials = readClientCredentials(c.req.raw, state.params!);
    state.credentials = credentials;
    const app =
      credentials.clientId.length <= 100 ? await apps.get(PLATFORM_NAMESPACE, credentials.clientId) : null;
    if (!(await verifyClientSecret(app?.secret_hash, credentials.clientSecret)) || !app) {
      logger.warn('client authentication failed', { client_id: credentials.clientId.slice(0, 100) });
      throw new OAuthError('invalid_client', 'client authentication failed');
    }
    state.app = app;
    await next();
  };

  const checkGrantType: Step = async (c, next) => {
    const { params, app } = c.get('oauth');
    const grant = params!.get('grant_type');
    if (!grant) throw new OAuthError('invalid_request', 'grant_type is required');
    if (grant !== 'client_credentials')
      throw new OAuthError('unsupported_grant_type', `grant_type ${grant} is not supported`);
    if (!app!.grant_types.includes(grant)) {
      throw new OAuthError('unauthorized_client', `this client may not use grant_type ${grant}`);
    }
    await next();
  };

  // A requested scope may only narrow what the app was registered with.
  const checkScope: Step = async (c, next) => {
    const state = c.get('oauth');
    const requested = state.params!.get('scope');
    if (requested === undefined) {
      state.scopes = state.app!.scopes;
    } else {
      const scopes = [...new Set(requested.split(' ').filter(Boolean))];
      const extra = scopes.filter((s) => !state.app!.scopes.includes(s));
      if (scopes.length === 0 || extra.length > 0) {
        throw new OAuthError(
          'invalid_scope',
          extra.length ? `scope not granted to this client: ${extra.join(' ')}` : 'scope is empty',
        );
      }
      state.scopes = scopes;
    }
    await next();
  };

  const issueAccessToken: Step = async (c) => {
    const { app, scopes } = c.get('oauth') as TokenState;
    const key = keys.current;
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      client_id: app.id,
      tenant_id: app.tenant_id,
      scope: scopes.join(' '),
    };
    // The sidecar applies the app's own limit from the token, so no lookup is needed per request.
    if (app.rate_limit) claims.rate_limit = app.rate_limit;
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setSubject(app.id)
      .setIssuedAt(now)
      .setExpirationTime(now + settings.accessTokenTtlSeconds)
      .setJti(randomUUID())
      .sign(key.privateKey);
    logger.info('access token issued', { client_id: app.id, tenant_id: app.tenant_id, scope: claims.scope });
    return c.json({
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: settings.accessTokenTtlSeconds,
      scope: scopes.join(' '),
    });
  };

  return inOrder([noStore, parseBody, authenticateClient, checkGrantType, checkScope, issueAccessToken]);
}

/** Runs named steps in order, each calling the next; the last one answers. */
function inOrder(steps: Step[]): Handler<Env> {
  return async (c) => {
    let response: Response | undefined;
    const run = async (i: number): Promise<void> => {
      const step = steps[i];
      if (!step) return;
      const result = await step(c, () => run(i + 1));
      if (result instanceof Response) response = result;
    };
    await run(0);
    if (!response) throw new Error('token route ended without a response');
    return response;
  };
}
