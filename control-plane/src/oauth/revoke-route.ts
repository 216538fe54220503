import type { Handler } from 'hono';
import { verifyIssuedAccessToken } from './access-token-check.js';
import { clientEndpointSteps, type OAuthEnv, type OAuthStep } from './client-endpoint.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import { refreshTokens } from './refresh-tokens.js';
import { revokeAccessTokenId } from './revocations.js';
import { inOrder } from './steps.js';

export type { RevocationRecord } from './revocations.js';

/**
 * POST /v1/oauth/revoke (RFC 7009). The client authenticates (a public client by client_id
 * alone); a token it owns is revoked — an access token by its jti, a refresh token with its
 * whole family. The answer is 200 whether or not the token was valid, so the endpoint cannot
 * be used to probe tokens.
 */
export function revokeRoute(ctx: OAuthContext): Handler<OAuthEnv> {
  const refresh = refreshTokens(ctx.store);

  const revokeRefreshToken = async (state: OAuthEnv['Variables']['oauth'], token: string) => {
    const app = state.app!;
    const record = await refresh.find(app.tenant_id, token);
    if (!record || record.client_id !== app.id) return false;
    await refresh.revokeFamily(app.tenant_id, record.family_id, 'revoked_by_client', ctx.clock());
    ctx.logger.info('refresh token family revoked', { client_id: app.id, family_id: record.family_id });
    await ctx.events.record({
      type: 'revoked',
      client_id: app.id,
      user_id: record.user_id,
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: { token_type: 'refresh_token', family_id: record.family_id },
    });
    return true;
  };

  const revokeAccessToken = async (state: OAuthEnv['Variables']['oauth'], token: string) => {
    const app = state.app!;
    const payload = await verifyIssuedAccessToken(ctx, token);
    // Invalid, expired or another client's tokens: nothing to revoke (RFC 7009 §2.2).
    if (!payload || payload.client_id !== app.id) return false;
    const jti = payload.jti!;
    await revokeAccessTokenId(ctx.store, app.tenant_id, {
      jti,
      clientId: app.id,
      expiresAt: payload.exp ?? 0,
      at: ctx.clock(),
    });
    ctx.logger.info('access token revoked', { client_id: app.id, jti });
    await ctx.events.record({
      type: 'revoked',
      client_id: app.id,
      ...(payload.sub && payload.sub !== app.id ? { user_id: payload.sub } : {}),
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: { token_type: 'access_token', jti },
    });
    return true;
  };

  const revoke: OAuthStep = async (c) => {
    const state = c.get('oauth');
    const token = state.params!.get('token');
    if (!token) throw new OAuthError('invalid_request', 'token is required');
    // RFC 7009 §2.1: the hint only decides which kind is looked up first; an unknown hint is
    // ignored rather than refused, and a miss under the hinted kind tries the other.
    const order =
      state.params!.get('token_type_hint') === 'refresh_token'
        ? [revokeRefreshToken, revokeAccessToken]
        : [revokeAccessToken, revokeRefreshToken];
    for (const attempt of order) {
      if (await attempt(state, token)) break;
    }
    return c.body(null, 200);
  };

  return inOrder([...clientEndpointSteps(ctx, 'revoke'), revoke]);
}
