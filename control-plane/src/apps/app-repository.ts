import type { Collection, DocumentStore } from '@cpod/runtime';

/** Apps are platform records, not tenant data: they live in this reserved namespace. */
export const PLATFORM_NAMESPACE = '_platform';

export interface RateLimitSetting {
  capacity: number;
  refill_per_second: number;
}

export interface AppRecord {
  id: string;
  name: string;
  tenant_id: string;
  scopes: string[];
  grant_types: string[];
  redirect_uris: string[];
  rate_limit: RateLimitSetting | null;
  /** argon2id PHC string; the secret itself is never stored. */
  secret_hash: string;
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

/** The view of an app an admin may see: everything but the secret hash. */
export function publicApp(app: AppRecord) {
  return {
    client_id: app.id,
    name: app.name,
    tenant_id: app.tenant_id,
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
