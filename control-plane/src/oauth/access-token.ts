import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AppRecord } from '../apps/app-repository.js';
import type { OAuthContext } from './oauth-context.js';

export interface AccessTokenSubject {
  app: AppRecord;
  /** The client itself for client_credentials, the user otherwise. */
  subject: string;
  scopes: string[];
  /** Claims only user tokens carry, such as `roles`. */
  claims?: Record<string, unknown>;
  /** Chosen before signing when they must be recorded first (see authorization-codes.ts). */
  jti?: string;
  /** `iat`, in seconds. */
  issuedAt?: number;
}

export interface SignedAccessToken {
  token: string;
  jti: string;
  /** `exp`, in seconds. */
  expiresAt: number;
  expiresIn: number;
}

export function newJti(): string {
  return randomUUID();
}

/** The one way access tokens are made: RFC 9068 JWTs signed with the current key. */
export async function signAccessToken(
  ctx: OAuthContext,
  grant: AccessTokenSubject,
): Promise<SignedAccessToken> {
  const key = ctx.keys.current;
  const now = grant.issuedAt ?? Math.floor(ctx.clock() / 1000);
  const ttl = ctx.settings.accessTokenTtlSeconds;
  const jti = grant.jti ?? newJti();
  const claims: Record<string, unknown> = {
    ...grant.claims,
    client_id: grant.app.id,
    tenant_id: grant.app.tenant_id,
    scope: grant.scopes.join(' '),
  };
  // The sidecar applies the app's own limit from the token, so no lookup is needed per request.
  if (grant.app.rate_limit) claims.rate_limit = grant.app.rate_limit;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(ctx.settings.issuer)
    .setAudience(ctx.settings.audience)
    .setSubject(grant.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, jti, expiresAt: now + ttl, expiresIn: ttl };
}
