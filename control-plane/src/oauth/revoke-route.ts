import type { DocumentStore, Logger } from '@cpod/runtime';
import type { MiddlewareHandler } from 'hono';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { appCollection, PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { verifyClientSecret } from '../apps/client-secret.js';
import type { SigningKeys } from '../signing-keys.js';
import { OAuthError } from './oauth-error.js';
import { readClientCredentials, readOAuthParams } from './token-request.js';

export interface RevocationRecord {
  id: string;
  client_id: string;
  expires_at: number;
  revoked_at: string;
  [field: string]: unknown;
}

/**
 * POST /v1/oauth/revoke (RFC 7009). The client authenticates; a token it owns is recorded
 * as revoked. The answer is 200 whether or not the token was valid, so the endpoint
 * cannot be used to probe tokens.
 */
export function revokeRoute(
  store: DocumentStore,
  keys: SigningKeys,
  settings: { issuer: string; maxBodyBytes: number },
  logger: Logger,
): MiddlewareHandler {
  const apps = appCollection(store);
  const revocations = store.collection<RevocationRecord>('revocations');
  return async (c) => {
    const params = await readOAuthParams(c.req.raw, settings.maxBodyBytes);
    const credentials = readClientCredentials(c.req.raw, params);
    const app = await apps.get(PLATFORM_NAMESPACE, credentials.clientId.slice(0, 100));
    if (!(await verifyClientSecret(app?.secret_hash, credentials.clientSecret)) || !app) {
      throw new OAuthError('invalid_client', 'client authentication failed');
    }
    const token = params.get('token');
    if (!token) throw new OAuthError('invalid_request', 'token is required');
    const hint = params.get('token_type_hint');
    if (hint && hint !== 'access_token') {
      throw new OAuthError('unsupported_token_type', `token_type_hint ${hint} is not supported`);
    }
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(keys.jwks()), { issuer: settings.issuer });
      if (payload.client_id === app.id && typeof payload.jti === 'string') {
        await revocations
          .insert(app.tenant_id, {
            id: payload.jti,
            client_id: app.id,
            expires_at: payload.exp ?? 0,
            revoked_at: new Date().toISOString(),
          })
          .catch((err: unknown) => {
            // Revoking twice is fine; anything else is a real failure.
            if ((err as { code?: string }).code !== 'ERR_STORE_CONFLICT') throw err;
          });
        logger.info('access token revoked', { client_id: app.id, jti: payload.jti });
      }
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('ERR_STORE')) throw err;
      // Invalid, expired or foreign tokens: nothing to revoke (RFC 7009 §2.2).
    }
    c.header('cache-control', 'no-store');
    return c.body(null, 200);
  };
}
