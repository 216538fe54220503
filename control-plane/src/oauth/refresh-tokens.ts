import type { DocumentStore } from '@cpod/runtime';
import { expiryIndex } from './expiry-index.js';
import { randomToken, tokenHash } from './hashing.js';
import { revokeAccessTokenId } from './revocations.js';

/**
 * All refresh tokens descending from one code exchange. The family, not the token, carries
 * the absolute lifetime and the revoked state, so reuse of any member can end all of them.
 */
export interface RefreshFamilyRecord {
  id: string;
  client_id: string;
  user_id: string;
  tenant_id: string;
  scopes: string[];
  /** Milliseconds since the epoch. */
  expires_at: number;
  created_at: string;
  revoked_at: string | null;
  revoked_reason?: string;
  [field: string]: unknown;
}

/** One refresh token, stored under the SHA-256 of the token. */
export interface RefreshTokenRecord {
  id: string;
  family_id: string;
  client_id: string;
  user_id: string;
  scopes: string[];
  /** The family's expiry, in milliseconds: rotation never extends it. */
  expires_at: number;
  used_at: string | null;
  /** The access token issued alongside, so revoking the family can revoke it too. */
  access_jti: string;
  access_expires_at: number;
  created_at: string;
  [field: string]: unknown;
}

/** Written when a token is rotated; as with codes, the first insert wins and a second is a replay. */
interface RefreshUseRecord {
  id: string;
  used_at: string;
  next_id: string;
  [field: string]: unknown;
}

export const REFRESH_TOKEN_PREFIX = 'cpr_';
const PLACEHOLDER_MS = 2 * 3600_000;

export function refreshTokens(store: DocumentStore) {
  const families = store.collection<RefreshFamilyRecord>('refresh_families');
  const tokens = store.collection<RefreshTokenRecord>('refresh_tokens');
  const uses = store.collection<RefreshUseRecord>('refresh_token_uses');
  const expiry = expiryIndex(store);

  return {
    /** Starts a family; fails with ERR_STORE_CONFLICT when a replay already revoked this id. */
    async startFamily(family: RefreshFamilyRecord): Promise<void> {
      await families.insert(family.tenant_id, family);
      await expiry.schedule('refresh_families', family.tenant_id, family.id, family.expires_at);
    },
    getFamily: (tenant: string, id: string) => families.get(tenant, id),

    /** A fresh token value and the id it will be stored under. */
    newToken(): { token: string; id: string } {
      const token = randomToken(REFRESH_TOKEN_PREFIX);
      return { token, id: tokenHash(token) };
    },
    async store(tenant: string, record: RefreshTokenRecord): Promise<void> {
      await tokens.insert(tenant, record);
      await expiry.schedule('refresh_tokens', tenant, record.id, record.expires_at);
    },
    find: (tenant: string, token: string) => tokens.get(tenant, tokenHash(token)),

    /**
     * True for the first rotation of `id`, false when it was rotated before. The use record
     * lives as long as the family (`expiresAt`), so a replay is recognised until then.
     */
    async claim(tenant: string, id: string, nextId: string, at: number, expiresAt: number): Promise<boolean> {
      try {
        await uses.insert(tenant, { id, next_id: nextId, used_at: new Date(at).toISOString() });
        await expiry.schedule('refresh_token_uses', tenant, id, expiresAt);
        await tokens.update(tenant, id, { used_at: new Date(at).toISOString() });
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_STORE_CONFLICT') return false;
        throw err;
      }
    },

    /**
     * Ends a family: marks it revoked and revokes the access token issued with each member.
     * A family that does not exist yet (a replayed code racing the exchange that creates it)
     * gets a revoked placeholder, so that exchange's later `startFamily` fails instead.
     */
    async revokeFamily(tenant: string, familyId: string, reason: string, at: number): Promise<void> {
      const revoked = { revoked_at: new Date(at).toISOString(), revoked_reason: reason };
      const existing = await families.get(tenant, familyId);
      if (existing?.revoked_at) return revokeMembers(tenant, familyId, at);
      if (!(await families.update(tenant, familyId, revoked))) {
        await families
          .insert(tenant, {
            id: familyId,
            client_id: '',
            user_id: '',
            tenant_id: tenant,
            scopes: [],
            expires_at: 0,
            created_at: new Date(at).toISOString(),
            ...revoked,
          })
          // The placeholder only has to outlive the code whose exchange it blocks.
          .then(() => expiry.schedule('refresh_families', tenant, familyId, at + PLACEHOLDER_MS))
          .catch(async (err: unknown) => {
            if ((err as { code?: string }).code !== 'ERR_STORE_CONFLICT') throw err;
            await families.update(tenant, familyId, revoked);
          });
      }
      await revokeMembers(tenant, familyId, at);
    },
  };

  async function revokeMembers(tenant: string, familyId: string, at: number): Promise<void> {
    const nowSeconds = Math.floor(at / 1000);
    let after: string | undefined;
    for (;;) {
      const page = await tokens.list(tenant, { limit: 500, after, where: { family_id: familyId } });
      for (const member of page) {
        if (member.access_expires_at > nowSeconds) {
          await revokeAccessTokenId(store, tenant, {
            jti: member.access_jti,
            clientId: member.client_id,
            expiresAt: member.access_expires_at,
            at,
          });
        }
      }
      if (page.length < 500) return;
      after = page.at(-1)?.id;
    }
  }
}
