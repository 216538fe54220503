import { type DocumentStore, newId } from '@cpod/runtime';
import { PLATFORM_NAMESPACE } from '../apps/app-repository.js';
import { expiryIndex } from './expiry-index.js';

export interface RevocationRecord {
  id: string;
  client_id: string;
  /** The token's `exp` (seconds): after it the record has nothing left to stop. */
  expires_at: number;
  revoked_at: string;
  [field: string]: unknown;
}

/**
 * One revoked access token, in the order revocations happened (time-sortable id), across
 * tenants: what gateways poll (`GET /v1/revocations`) so that every sidecar learns about
 * tokens revoked anywhere — by a refresh replay, a code replay, a family revocation, or a
 * revoke call that did not pass through that gateway.
 */
export interface RevocationFeedEntry {
  id: string;
  jti: string;
  tenant_id: string;
  expires_at: number;
  [field: string]: unknown;
}

/** Verifiers allow this much clock skew on `exp`, so a revocation must outlive `exp` by as much. */
const SKEW_MS = 60_000;

export function revocationCollection(store: DocumentStore) {
  return store.collection<RevocationRecord>('revocations');
}

export function revocationFeedCollection(store: DocumentStore) {
  return store.collection<RevocationFeedEntry>('revocation_feed');
}

/** Records an access token's jti as revoked; revoking twice is not an error. */
export async function revokeAccessTokenId(
  store: DocumentStore,
  tenant: string,
  record: { jti: string; clientId: string; expiresAt: number; at: number },
): Promise<void> {
  const expiry = expiryIndex(store);
  const forgetAt = record.expiresAt * 1000 + SKEW_MS;
  // The feed entry first: should the second write fail, the token is still announced to the
  // sidecars, and a retried revocation writes both (feed entries may repeat, sidecars dedupe).
  const entry = {
    id: newId('rvf', record.at),
    jti: record.jti,
    tenant_id: tenant,
    expires_at: record.expiresAt,
  };
  await revocationFeedCollection(store).insert(PLATFORM_NAMESPACE, entry);
  await expiry.schedule('revocation_feed', PLATFORM_NAMESPACE, entry.id, forgetAt);
  const inserted = await revocationCollection(store)
    .insert(tenant, {
      id: record.jti,
      client_id: record.clientId,
      expires_at: record.expiresAt,
      revoked_at: new Date(record.at).toISOString(),
    })
    .then(
      () => true,
      (err: unknown) => {
        if ((err as { code?: string }).code !== 'ERR_STORE_CONFLICT') throw err;
        return false;
      },
    );
  if (inserted) await expiry.schedule('revocations', tenant, record.jti, forgetAt);
}

export async function isAccessTokenRevoked(
  store: DocumentStore,
  tenant: string,
  jti: string,
): Promise<boolean> {
  return (await revocationCollection(store).get(tenant, jti)) !== null;
}
