import type { Collection, DocumentStore } from '@cpod/runtime';

/** Apps are platform records, not tenant data: they live in this reserved namespace. */
export const PLATFORM_NAMESPACE = '_platform';

export type ClientType = 'confidential' | 'public';
export type GrantType = 'client_credentials' | 'authorization_code' | 'refresh_token';

export interface RateLimitSetting {
  capacity: number;
  refill_per_second: number;
}

export interface AppRecord {
  id: string;
  name: string;
  tenant_id: string;
  /** Absent on records written before public clients existed: those are confidential. */
  client_type?: ClientType;
  scopes: string[];
  grant_types: string[];
  redirect_uris: string[];
  rate_limit: RateLimitSetting | null;
  /** argon2id PHC string; the secret itself is never stored. Null for public clients. */
  secret_hash: string | null;
  /**
   * The secret replaced by a rotation with a grace period: still accepted until
   * `previous_secret_expires_at` (ISO time), never after.
   */
  previous_secret_hash?: string | null;
  previous_secret_expires_at?: string | null;
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

export function clientType(app: AppRecord): ClientType {
  return app.client_type === 'public' ? 'public' : 'confidential';
}

/** The view of an app an admin may see: everything but the secret hash. */
export function publicApp(app: AppRecord) {
  return {
    client_id: app.id,
    name: app.name,
    tenant_id: app.tenant_id,
    client_type: clientType(app),
    scopes: app.scopes,
    grant_types: app.grant_types,
    redirect_uris: app.redirect_uris,
    rate_limit: app.rate_limit,
    created_at: app.created_at,
    updated_at: app.updated_at,
  };
}

export function appCollection(store: DocumentStore): Collection<AppRecord> {
  return store.collection<AppRecord>('apps');
}
