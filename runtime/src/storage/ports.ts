/**
 * Storage ports. Business code is written against these interfaces only; adapters
 * (PGlite, PostgreSQL, MongoDB for documents; in-process and Redis for key/value)
 * are chosen by configuration. Every document operation takes the tenant first, so a
 * query without a tenant cannot be written.
 */

/** A stored document: JSON-serialisable, identified by `id` within its tenant. */
export interface Doc {
  id: string;
  [field: string]: unknown;
}

export type FieldValue = string | number | boolean | null;

export interface ListOptions {
  /** Maximum number of documents returned (adapters cap it at 1000). */
  limit: number;
  /** Exclusive cursor: only documents whose id sorts after (asc) or before (desc) this one. */
  after?: string;
  /** Order by id; ids are time-sortable, so this is creation order. Default 'asc'. */
  order?: 'asc' | 'desc';
  /** Top-level field equality filters, ANDed. */
  where?: Record<string, FieldValue>;
}

export interface Collection<T extends Doc> {
  /** Inserts a new document; throws ApiError ERR_STORE_CONFLICT when the id exists in this tenant. */
  insert(tenant: string, doc: T): Promise<T>;
  /**
   * Inserts documents in order and stops at the first id that already exists in this tenant;
   * returns how many were inserted (that prefix of `docs`). PostgreSQL and PGlite write them in
   * one statement, so they insert all or none — also a prefix. One round trip and one commit
   * instead of one per document.
   */
  insertMany(tenant: string, docs: T[]): Promise<number>;
  get(tenant: string, id: string): Promise<T | null>;
  /** Shallow-merges `patch` into the document; returns the new document or null when absent. */
  update(tenant: string, id: string, patch: Partial<T>): Promise<T | null>;
  delete(tenant: string, id: string): Promise<boolean>;
  list(tenant: string, options: ListOptions): Promise<T[]>;
  count(tenant: string, where?: Record<string, FieldValue>): Promise<number>;
}

export interface DocumentStore {
  /** Which adapter this is, for logs and test output: 'pglite' | 'postgres' | 'mongodb'. */
  readonly kind: string;
  /** Collection names are lowercase identifiers (`[a-z][a-z0-9_]*`). */
  collection<T extends Doc>(name: string): Collection<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface TokenBucket {
  capacity: number;
  refillPerSecond: number;
}

export interface BucketResult {
  allowed: boolean;
  /** Whole tokens left after this call. */
  remaining: number;
  /** When denied: milliseconds until `cost` tokens are available; 0 when allowed. */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

export interface KeyValueStore {
  /** 'memory' | 'redis'. */
  readonly kind: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Atomically adds `by` (default 1) and returns the new value; `ttlMs` is set when the key is created. */
  increment(key: string, by?: number, options?: { ttlMs?: number }): Promise<number>;
  /** Atomic token-bucket take: refills by elapsed time, then takes `cost` (default 1) tokens if available. */
  takeTokens(key: string, bucket: TokenBucket, cost?: number): Promise<BucketResult>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
