import type { Handler } from 'hono';
import { clientType } from '../apps/app-repository.js';
import { verifyIssuedAccessToken } from './access-token-check.js';
import { clientEndpointSteps, type OAuthEnv, type OAuthStep } from './client-endpoint.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import { refreshTokens } from './refresh-tokens.js';
import { isAccessTokenRevoked } from './revocations.js';
import { inOrder } from './steps.js';

const INACTIVE = { active: false } as const;

/**
 * POST /v1/oauth/introspect (RFC 7662) for confidential clients. A client learns only about
 * its own tokens: another client's token is `{active: false}`, exactly like a forged one, so
 * introspection cannot be used to read tokens that leaked to the wrong client.
 */
export function introspectRoute(ctx: OAuthContext): Handler<OAuthEnv> {
  const refresh = refreshTokens(ctx.store);

  // A public client has no secret, so anyone could introspect in its name.
  const requireConfidential: OAuthStep = async (c, next) => {
    if (clientType(c.get('oauth').app!) !== 'confidential') {
      throw new OAuthError('invalid_client', 'introspection requires a confidential client');
    }
    await next();
  };

  const accessTokenInfo = async (state: OAuthEnv['Variables']['oauth'], token: string) => {
    const app = state.app!;
    const payload = await verifyIssuedAccessToken(ctx, token);
    if (!payload || payload.client_id !== app.id) return null;
    if (await isAccessTokenRevoked(ctx.store, app.tenant_id, payload.jti!)) return null;
    return {
      active: true,
      token_type: 'Bearer',
      scope: payload.scope,
      client_id: payload.client_id,
      sub: payload.sub,
      tenant_id: payload.tenant_id,
      exp: payload.exp,
      iat: payload.iat,
      iss: payload.iss,
      aud: payload.aud,
      jti: payload.jti,
      ...(Array.isArray(payload.roles) ? { roles: payload.roles } : {}),
    };
  };

  const refreshTokenInfo = async (state: OAuthEnv['Variables']['oauth'], token: string) => {
    const app = state.app!;
    const record = await refresh.find(app.tenant_id, token);
    if (!record || record.client_id !== app.id || record.used_at !== null) return null;
    if (ctx.clock() >= record.expires_at) return null;
    const family = await refresh.getFamily(app.tenant_id, record.family_id);
    if (!family || family.revoked_at !== null) return null;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: record.scopes.join(' '),
      client_id: record.client_id,
      sub: record.user_id,
      tenant_id: app.tenant_id,
      exp: Math.floor(record.expires_at / 1000),
      iat: Math.floor(Date.parse(record.created_at) / 1000),
      iss: ctx.settings.issuer,
    };
  };

  const introspect: OAuthStep = async (c) => {
    const state = c.get('oauth');
    const token = state.params!.get('token');
    if (!token) throw new OAuthError('invalid_request', 'token is required');
    const order =
      state.params!.get('token_type_hint') === 'refresh_token'
        ? [refreshTokenInfo, accessTokenInfo]
        : [accessTokenInfo, refreshTokenInfo];
    for (const lookup of order) {
      const info = await lookup(state, token);
      if (info) return c.json(info);
    }
    return c.json(INACTIVE);
  };

  return inOrder([...clientEndpointSteps(ctx, 'introspect'), requireConfidential, introspect]);
}
