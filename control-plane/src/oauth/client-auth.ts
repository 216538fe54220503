import type { AppRecord } from '../apps/app-repository.js';
import { appCollection, clientType, PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import { type ClientCredentials, readClientCredentials } from './token-request.js';

export interface AuthenticatedClient {
  app: AppRecord;
  credentials: ClientCredentials;
}

/**
 * Authenticates the client of a token, revocation or introspection request. A confidential
 * client must prove its secret; a public client must not present one (it has none) and is
 * identified by `client_id` alone — which grants it may then use is the caller's decision.
 */
export async function authenticateClient(
  ctx: OAuthContext,
  request: Request,
  params: Map<string, string>,
  source: { ip: string; endpoint: string },
): Promise<AuthenticatedClient> {
  const apps = appCollection(ctx.store);
  const credentials = readClientCredentials(request, params);
  const app =
    credentials.clientId.length <= 100 ? await apps.get(PLATFORM_NAMESPACE, credentials.clientId) : null;
  let ok: boolean;
  if (credentials.method === 'none') {
    // No secret is checked on either side, so answering at once reveals nothing about which
    // confidential clients exist: an unknown id and a confidential one fail the same way.
    ok = app !== null && clientType(app) === 'public';
  } else {
    const confidential = app && clientType(app) === 'confidential' ? app : undefined;
    const secret = credentials.clientSecret ?? '';
    ok = (await ctx.verifySecret(confidential?.secret_hash, secret)) && app !== null;
    // A secret rotated out with a grace period keeps working until the period ends.
    const previous =
      confidential && inGrace(confidential, ctx.clock()) ? confidential.previous_secret_hash : null;
    if (!ok && previous) ok = await ctx.verifySecret(previous, secret);
  }
  if (!ok || !app) {
    const clientId = credentials.clientId.slice(0, 100);
    ctx.logger.warn('client authentication failed', { client_id: clientId, endpoint: source.endpoint });
    await ctx.events.record({
      type: 'client_auth_failed',
      client_id: clientId,
      ...(app ? { tenant_id: app.tenant_id } : {}),
      ip: source.ip,
      detail: { endpoint: source.endpoint, method: credentials.method },
    });
    throw new OAuthError('invalid_client', 'client authentication failed');
  }
  return { app, credentials };
}

function inGrace(app: AppRecord, now: number): boolean {
  const until = app.previous_secret_expires_at;
  return typeof until === 'string' && Date.parse(until) > now;
}
