import type { Collection, DocumentStore } from '@cpod/runtime';

/** A tenant's end user; lives in the tenant's namespace, so another tenant's apps cannot see it. */
export interface UserRecord {
  id: string;
  tenant_id: string;
  /** Lower-cased: one person, one account, whatever case they type. */
  email: string;
  /** argon2id PHC string. */
  password_hash: string;
  roles: string[];
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

/**
 * One document per email, keyed by the email itself. The document port's only unique
 * constraint is the id, so this is what makes "email unique per tenant" hold even when two
 * registrations race; it also makes login a primary-key lookup.
 */
interface EmailIndexRecord {
  id: string;
  user_id: string;
  [field: string]: unknown;
}

export function publicUser(user: UserRecord) {
  return {
    id: user.id,
    tenant_id: user.tenant_id,
    email: user.email,
    roles: user.roles,
    created_at: user.created_at,
  };
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export interface UserRepository {
  /** Throws ApiError ERR_STORE_CONFLICT when the email is taken in this tenant. */
  create(user: UserRecord): Promise<UserRecord>;
  get(tenant: string, id: string): Promise<UserRecord | null>;
  findByEmail(tenant: string, email: string): Promise<UserRecord | null>;
  list(tenant: string, options: { limit: number; after?: string | undefined }): Promise<UserRecord[]>;
}

export function userRepository(store: DocumentStore): UserRepository {
  const users: Collection<UserRecord> = store.collection<UserRecord>('users');
  const emails: Collection<EmailIndexRecord> = store.collection<EmailIndexRecord>('user_emails');
  return {
    async create(user) {
      // Claim the email first: the loser of a race fails here and writes no user.
      await emails.insert(user.tenant_id, { id: user.email, user_id: user.id });
      try {
        return await users.insert(user.tenant_id, user);
      } catch (err) {
        await emails.delete(user.tenant_id, user.email).catch(() => undefined);
        throw err;
      }
    },
    get: (tenant, id) => users.get(tenant, id),
    async findByEmail(tenant, email) {
      const entry = await emails.get(tenant, normaliseEmail(email));
      return entry ? users.get(tenant, entry.user_id) : null;
    },
    list: (tenant, options) => users.list(tenant, { limit: options.limit, after: options.after }),
  };
}
