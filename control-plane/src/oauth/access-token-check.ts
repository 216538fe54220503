import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { SIGNING_ALG } from '../signing-keys.js';
import type { OAuthContext } from './oauth-context.js';

/**
 * The payload of an access token this control plane signed and that has not expired, or null.
 * Store failures are not swallowed here because nothing here reads the store.
 */
export async function verifyIssuedAccessToken(ctx: OAuthContext, token: string): Promise<JWTPayload | null> {
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet(ctx.keys.jwks()), {
      issuer: ctx.settings.issuer,
      audience: ctx.settings.audience,
      typ: 'at+jwt',
      algorithms: [SIGNING_ALG],
      currentDate: new Date(ctx.clock()),
    });
    return typeof payload.jti === 'string' && typeof payload.client_id === 'string' ? payload : null;
  } catch {
    return null;
  }
}
