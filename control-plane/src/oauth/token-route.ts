import { newId } from '@cpod/runtime';
import type { Handler } from 'hono';
import { clientType } from '../apps/app-repository.js';
import { type UserRecord, userRepository } from '../users/user-repository.js';
import { newJti, signAccessToken } from './access-token.js';
import { authorizationCodes, type CodeUseRecord } from './authorization-codes.js';
import { clientEndpointSteps, type OAuthEnv, type OAuthStep } from './client-endpoint.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import { verifyPkce } from './pkce.js';
import { refreshTokens } from './refresh-tokens.js';
import { revokeAccessTokenId } from './revocations.js';
import { inOrder } from './steps.js';

const GRANTS = ['client_credentials', 'authorization_code', 'refresh_token'] as const;
type Grant = (typeof GRANTS)[number];
type State = OAuthEnv['Variables']['oauth'];

/**
 * POST /v1/oauth/token as an ordered list of named steps: each one reads what the
 * previous ones established and adds one fact, so the order is the security argument.
 * After the common steps each grant runs its own list.
 */
export function tokenRoute(ctx: OAuthContext): Handler<OAuthEnv> {
  const codes = authorizationCodes(ctx.store);
  const refresh = refreshTokens(ctx.store);
  const users = userRepository(ctx.store);
  const nowSeconds = () => Math.floor(ctx.clock() / 1000);
  const isoNow = () => new Date(ctx.clock()).toISOString();

  const checkGrantType: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const grant = state.params!.get('grant_type');
    if (!grant) throw new OAuthError('invalid_request', 'grant_type is required');
    if (!(GRANTS as readonly string[]).includes(grant)) {
      throw new OAuthError('unsupported_grant_type', `grant_type ${grant} is not supported`);
    }
    // Registration already refuses this combination; records are checked again here because
    // a client without a secret must never obtain a token for itself.
    if (grant === 'client_credentials' && clientType(state.app!) === 'public') {
      throw new OAuthError('unauthorized_client', 'a public client may not use client_credentials');
    }
    if (!state.app!.grant_types.includes(grant)) {
      throw new OAuthError('unauthorized_client', `this client may not use grant_type ${grant}`);
    }
    state.grant = grant;
    await next();
  };

  // --- client_credentials ---------------------------------------------------------------

  // A requested scope may only narrow what the app was registered with.
  const checkClientScope: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.scopes = narrowScope(state.params!.get('scope'), state.app!.scopes, 'this client');
    await next();
  };

  const issueClientToken: OAuthStep = async (c) => {
    const { app, scopes, ip } = c.get('oauth');
    const signed = await signAccessToken(ctx, { app: app!, subject: app!.id, scopes: scopes! });
    ctx.logger.info('access token issued', {
      client_id: app!.id,
      tenant_id: app!.tenant_id,
      grant_type: 'client_credentials',
      scope: scopes!.join(' '),
    });
    await ctx.events.record({
      type: 'issued',
      client_id: app!.id,
      tenant_id: app!.tenant_id,
      ip: ip!,
      detail: { grant_type: 'client_credentials', jti: signed.jti },
    });
    return c.json(tokenResponse(signed.token, signed.expiresIn, scopes!));
  };

  // --- authorization_code ---------------------------------------------------------------

  const loadCode: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const params = state.params!;
    for (const name of ['code', 'redirect_uri', 'code_verifier']) {
      if (!params.get(name)) throw new OAuthError('invalid_request', `${name} is required`);
    }
    // Codes live in the tenant of the app they were issued to: another tenant's client
    // cannot even find them.
    const code = await codes.find(state.app!.tenant_id, params.get('code')!);
    // A code issued to another client is refused without consuming it, so presenting a
    // stolen code to one's own client cannot burn the victim's exchange.
    if (!code || code.client_id !== state.app!.id) {
      throw new OAuthError('invalid_grant', 'authorization code is invalid');
    }
    state.code = code;
    await next();
  };

  // RFC 6749 §4.1.2: a code used twice is refused and what it produced is revoked — checked
  // before expiry and PKCE, because a replay is a sign of theft whoever presents it.
  const rejectCodeReplay: OAuthStep = async (c, next) => {
    const { app, code } = c.get('oauth');
    const use = await codes.findUse(app!.tenant_id, code!.id);
    if (use) await revokeCodeReplay(c.get('oauth'), use);
    await next();
  };

  const checkCodeBinding: OAuthStep = async (c, next) => {
    const { params, code } = c.get('oauth');
    if (ctx.clock() >= code!.expires_at) {
      throw new OAuthError('invalid_grant', 'authorization code has expired');
    }
    if (params!.get('redirect_uri') !== code!.redirect_uri) {
      throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
    }
    if (!verifyPkce(params!.get('code_verifier')!, code!.code_challenge)) {
      throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
    }
    await next();
  };

  const loadCodeUser: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.user = await requireUser(state.app!.tenant_id, state.code!.user_id);
    state.scopes = state.code!.scopes.filter((s) => state.app!.scopes.includes(s));
    if (state.scopes.length === 0) throw new OAuthError('invalid_scope', 'no granted scope is left');
    await next();
  };

  // The atomic step: of concurrent exchanges exactly one records the use; the others are replays.
  const claimCode: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.jti = newJti();
    state.issuedAt = nowSeconds();
    state.familyId = state.app!.grant_types.includes('refresh_token') ? newId('rtf', ctx.clock()) : null;
    const use: CodeUseRecord = {
      id: state.code!.id,
      used_at: isoNow(),
      access_jti: state.jti,
      access_expires_at: state.issuedAt + ctx.settings.accessTokenTtlSeconds,
      family_id: state.familyId,
    };
    if (!(await codes.claim(state.app!.tenant_id, use))) {
      const winner = await codes.findUse(state.app!.tenant_id, state.code!.id);
      await revokeCodeReplay(state, winner ?? use);
    }
    await next();
  };

  const issueCodeTokens: OAuthStep = async (c) => {
    const state = c.get('oauth');
    const app = state.app!;
    const user = state.user!;
    let refreshToken: string | undefined;
    if (state.familyId) {
      const expiresAt = ctx.clock() + ctx.settings.refreshTokenTtlSeconds * 1000;
      try {
        await refresh.startFamily({
          id: state.familyId,
          client_id: app.id,
          user_id: user.id,
          tenant_id: app.tenant_id,
          scopes: state.scopes!,
          expires_at: expiresAt,
          created_at: isoNow(),
          revoked_at: null,
        });
      } catch (err) {
        // A replay of this code got here first and left a revoked placeholder.
        if ((err as { code?: string }).code === 'ERR_STORE_CONFLICT') {
          throw new OAuthError('invalid_grant', 'authorization code has already been used');
        }
        throw err;
      }
      refreshToken = await storeRefreshToken(state, state.familyId, state.scopes!, expiresAt);
    }
    const signed = await signUserToken(state, user);
    ctx.logger.info('access token issued', {
      client_id: app.id,
      tenant_id: app.tenant_id,
      user_id: user.id,
      grant_type: 'authorization_code',
    });
    await ctx.events.record({
      type: 'issued',
      client_id: app.id,
      user_id: user.id,
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: { grant_type: 'authorization_code', jti: signed.jti },
    });
    return c.json(tokenResponse(signed.token, signed.expiresIn, state.scopes!, refreshToken));
  };

  // --- refresh_token --------------------------------------------------------------------

  const loadRefreshToken: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const presented = state.params!.get('refresh_token');
    if (!presented) throw new OAuthError('invalid_request', 'refresh_token is required');
    const record = await refresh.find(state.app!.tenant_id, presented);
    if (!record || record.client_id !== state.app!.id) {
      throw new OAuthError('invalid_grant', 'refresh token is invalid');
    }
    state.refresh = record;
    await next();
  };

  // A rotated token presented again means two parties hold the family: end all of it. There
  // is deliberately no grace period for a client that lost the previous answer; it has to
  // sign in again, which is cheaper than leaving a window in which a thief's reuse passes.
  const rejectRefreshReuse: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    if (state.refresh!.used_at !== null) await revokeRefreshReplay(state);
    await next();
  };

  const checkFamily: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const family = await refresh.getFamily(state.app!.tenant_id, state.refresh!.family_id);
    if (!family || family.revoked_at !== null) {
      throw new OAuthError('invalid_grant', 'refresh token has been revoked');
    }
    if (ctx.clock() >= state.refresh!.expires_at) {
      throw new OAuthError('invalid_grant', 'refresh token has expired');
    }
    await next();
  };

  // RFC 6749 §6: the new access token may carry less; the new refresh token keeps the grant.
  const narrowRefreshScope: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    const granted = state.refresh!.scopes.filter((s) => state.app!.scopes.includes(s));
    state.scopes = narrowScope(state.params!.get('scope'), granted, 'this refresh token');
    await next();
  };

  // Read again at every refresh, so a role change reaches the next access token.
  const loadRefreshUser: OAuthStep = async (c, next) => {
    const state = c.get('oauth');
    state.user = await requireUser(state.app!.tenant_id, state.refresh!.user_id);
    await next();
  };

  const rotateRefreshToken: OAuthStep = async (c) => {
    const state = c.get('oauth');
    const app = state.app!;
    const old = state.refresh!;
    state.jti = newJti();
    state.issuedAt = nowSeconds();
    const next = refresh.newToken();
    if (!(await refresh.claim(app.tenant_id, old.id, next.id, ctx.clock(), old.expires_at))) {
      await revokeRefreshReplay(state);
    }
    const refreshToken = await storeRefreshToken(state, old.family_id, old.scopes, old.expires_at, next);
    // A replay racing this rotation may have revoked the family before the new member
    // existed, and so not revoked its access token: look again now that it does.
    const family = await refresh.getFamily(app.tenant_id, old.family_id);
    if (!family || family.revoked_at !== null) {
      await refresh.revokeFamily(app.tenant_id, old.family_id, 'refresh_replay', ctx.clock());
      throw new OAuthError('invalid_grant', 'refresh token has been revoked');
    }
    const signed = await signUserToken(state, state.user!);
    ctx.logger.info('access token refreshed', { client_id: app.id, user_id: state.user!.id });
    await ctx.events.record({
      type: 'refreshed',
      client_id: app.id,
      user_id: state.user!.id,
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: { family_id: old.family_id, jti: signed.jti },
    });
    return c.json(tokenResponse(signed.token, signed.expiresIn, state.scopes!, refreshToken));
  };

  // --- shared ---------------------------------------------------------------------------

  const signUserToken = (state: State, user: UserRecord) =>
    signAccessToken(ctx, {
      app: state.app!,
      subject: user.id,
      scopes: state.scopes!,
      claims: { roles: user.roles },
      jti: state.jti!,
      issuedAt: state.issuedAt!,
    });

  /** Stores a refresh token that records the access token issued with it (`state.jti`). */
  async function storeRefreshToken(
    state: State,
    familyId: string,
    scopes: string[],
    expiresAt: number,
    token = refresh.newToken(),
  ): Promise<string> {
    await refresh.store(state.app!.tenant_id, {
      id: token.id,
      family_id: familyId,
      client_id: state.app!.id,
      user_id: state.user!.id,
      scopes,
      expires_at: expiresAt,
      used_at: null,
      access_jti: state.jti!,
      access_expires_at: state.issuedAt! + ctx.settings.accessTokenTtlSeconds,
      created_at: isoNow(),
    });
    return token.token;
  }

  async function requireUser(tenant: string, userId: string): Promise<UserRecord> {
    const user = await users.get(tenant, userId);
    if (!user) throw new OAuthError('invalid_grant', 'the user of this grant no longer exists');
    return user;
  }

  async function revokeCodeReplay(state: State, use: CodeUseRecord): Promise<never> {
    const app = state.app!;
    const userId = state.code!.user_id;
    await revokeAccessTokenId(ctx.store, app.tenant_id, {
      jti: use.access_jti,
      clientId: app.id,
      expiresAt: use.access_expires_at,
      at: ctx.clock(),
    });
    if (use.family_id) {
      await refresh.revokeFamily(app.tenant_id, use.family_id, 'authorization_code_replay', ctx.clock());
    }
    ctx.logger.warn('authorization code replayed; the tokens issued from it are revoked', {
      client_id: app.id,
      user_id: userId,
      jti: use.access_jti,
    });
    await ctx.events.record({
      type: 'revoked',
      client_id: app.id,
      user_id: userId,
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: {
        reason: 'authorization_code_replay',
        jti: use.access_jti,
        ...(use.family_id ? { family_id: use.family_id } : {}),
      },
    });
    throw new OAuthError('invalid_grant', 'authorization code has already been used');
  }

  async function revokeRefreshReplay(state: State): Promise<never> {
    const app = state.app!;
    const record = state.refresh!;
    await refresh.revokeFamily(app.tenant_id, record.family_id, 'refresh_replay', ctx.clock());
    ctx.logger.warn('refresh token reused; its family is revoked', {
      client_id: app.id,
      user_id: record.user_id,
      family_id: record.family_id,
    });
    await ctx.events.record({
      type: 'refresh_replay',
      client_id: app.id,
      user_id: record.user_id,
      tenant_id: app.tenant_id,
      ip: state.ip!,
      detail: { family_id: record.family_id },
    });
    throw new OAuthError('invalid_grant', 'refresh token has already been used');
  }

  const grants: Record<Grant, Handler<OAuthEnv>> = {
    client_credentials: inOrder([checkClientScope, issueClientToken]),
    authorization_code: inOrder([
      loadCode,
      rejectCodeReplay,
      checkCodeBinding,
      loadCodeUser,
      claimCode,
      issueCodeTokens,
    ]),
    refresh_token: inOrder([
      loadRefreshToken,
      rejectRefreshReuse,
      checkFamily,
      narrowRefreshScope,
      loadRefreshUser,
      rotateRefreshToken,
    ]),
  };

  const runGrant: OAuthStep = (c, next) => grants[c.get('oauth').grant as Grant](c, next);

  return inOrder([...clientEndpointSteps(ctx, 'token'), checkGrantType, runGrant]);
}

/** Parses a requested `scope`; absent means everything `granted`, anything beyond it is refused. */
function narrowScope(requested: string | undefined, granted: string[], holder: string): string[] {
  if (requested === undefined) {
    if (granted.length === 0) throw new OAuthError('invalid_scope', 'no granted scope is left');
    return granted;
  }
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  const extra = scopes.filter((s) => !granted.includes(s));
  if (scopes.length === 0 || extra.length > 0) {
    throw new OAuthError(
      'invalid_scope',
      extra.length ? `scope not granted to ${holder}: ${extra.join(' ')}` : 'scope is empty',
    );
  }
  return scopes;
}

function tokenResponse(accessToken: string, expiresIn: number, scopes: string[], refreshToken?: string) {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: expiresIn,
    scope: scopes.join(' '),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}
