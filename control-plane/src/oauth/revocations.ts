import type { DocumentStore } from '@cpod/runtime';

export interface RevocationRecord {
  id: string;
  client_id: string;
  /** The token's `exp` (seconds): after it the record has nothing left to stop. */
  expires_at: number;
  revoked_at: string;
  [field: string]: unknown;
}

export function revocationCollection(store: DocumentStore) {
  return store.collection<RevocationRecord>('revocations');
}

/** Records an access token's jti as revoked; revoking twice is not an error. */
export async function revokeAccessTokenId(
  store: DocumentStore,
  tenant: string,
  record: { jti: string; clientId: string; expiresAt: number; at: number },
): Promise<void> {
  await revocationCollection(store)
    .insert(tenant, {
      id: record.jti,
      client_id: record.clientId,
      expires_at: record.expiresAt,
      revoked_at: new Date(record.at).toISOString(),
    })
    .catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'ERR_STORE_CONFLICT') throw err;
    });
}

export async function isAccessTokenRevoked(
  store: DocumentStore,
  tenant: string,
  jti: string,
): Promise<boolean> {
  return (await revocationCollection(store).get(tenant, jti)) !== null;
}
