import type { DocumentStore } from '@cpod/runtime';
import { expiryIndex } from './expiry-index.js';
import { randomToken, tokenHash } from './hashing.js';

/**
 * How long a code and its use record are kept after the code expired: as long as an access
 * token issued from it can live, so a late replay still finds what to revoke.
 */
const REPLAY_EVIDENCE_MS = 3600_000 + 60_000;

/** A code as stored: under the SHA-256 of the code, never the code itself. */
export interface AuthorizationCodeRecord {
  id: string;
  client_id: string;
  tenant_id: string;
  user_id: string;
  redirect_uri: string;
  code_challenge: string;
  scopes: string[];
  /** Milliseconds since the epoch. */
  expires_at: number;
  created_at: string;
  [field: string]: unknown;
}

export type NewAuthorizationCode = Pick<
  AuthorizationCodeRecord,
  | 'client_id'
  | 'tenant_id'
  | 'user_id'
  | 'redirect_uri'
  | 'code_challenge'
  | 'scopes'
  | 'expires_at'
  | 'created_at'
>;

/**
 * The record that a code was exchanged, written with the ids of the tokens about to be issued
 * for it. The document port has no compare-and-set, but an insert of an existing id fails in
 * every adapter: the one exchange whose insert succeeds wins, and a replay finds here exactly
 * which tokens to revoke — even when it arrives before the winner has finished signing them.
 */
export interface CodeUseRecord {
  id: string;
  used_at: string;
  access_jti: string;
  /** The access token's `exp`, in seconds. */
  access_expires_at: number;
  family_id: string | null;
  [field: string]: unknown;
}

export function authorizationCodes(store: DocumentStore) {
  const codes = store.collection<AuthorizationCodeRecord>('authorization_codes');
  const uses = store.collection<CodeUseRecord>('authorization_code_uses');
  const expiry = expiryIndex(store);
  return {
    /** Stores a new code and returns it; only its hash is kept. */
    async create(record: NewAuthorizationCode): Promise<string> {
      const code = randomToken('');
      const id = tokenHash(code);
      await codes.insert(record.tenant_id, { ...record, id });
      await expiry.schedule(
        'authorization_codes',
        record.tenant_id,
        id,
        record.expires_at + REPLAY_EVIDENCE_MS,
      );
      return code;
    },
    find: (tenant: string, code: string) => codes.get(tenant, tokenHash(code)),
    findUse: (tenant: string, id: string) => uses.get(tenant, id),
    /** True for the first exchange of the code, false for every later one. */
    async claim(tenant: string, use: CodeUseRecord): Promise<boolean> {
      try {
        await uses.insert(tenant, use);
        await expiry.schedule(
          'authorization_code_uses',
          tenant,
          use.id,
          Date.parse(use.used_at) + REPLAY_EVIDENCE_MS,
        );
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_STORE_CONFLICT') return false;
        throw err;
      }
    },
  };
}
