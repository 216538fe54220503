import { join } from 'node:path';
import { createMemoryKeyValue } from './memory-kv.js';
import { openMongoDocuments } from './mongo-documents.js';
import { openPgliteDocuments } from './pglite-documents.js';
import type { DocumentStore, KeyValueStore } from './ports.js';
import { openPostgresDocuments } from './postgres-documents.js';
import { openRedisKeyValue } from './redis-kv.js';

export interface DocumentStoreOptions {
  mongodbUrl?: string | undefined;
  databaseUrl?: string | undefined;
  /** The process's data folder; the embedded database lives in `<dataDir>/documents`. */
  dataDir: string;
}

/** MongoDB when configured, else PostgreSQL when configured, else embedded PGlite. */
export function openDocumentStore(options: DocumentStoreOptions): Promise<DocumentStore> {
  if (options.mongodbUrl) return openMongoDocuments({ url: options.mongodbUrl });
  if (options.databaseUrl) return openPostgresDocuments({ url: options.databaseUrl });
  return openPgliteDocuments({ dataDir: join(options.dataDir, 'documents') });
}

export interface KeyValueStoreOptions {
  redisUrl?: string | undefined;
  /** Key prefix in Redis (default `cpod:`); the in-process store needs none. */
  prefix?: string | undefined;
}

/** Redis when configured, else the in-process store (which only suits a single process). */
export async function openKeyValueStore(options: KeyValueStoreOptions): Promise<KeyValueStore> {
  if (options.redisUrl) return openRedisKeyValue({ url: options.redisUrl, prefix: options.prefix });
  return createMemoryKeyValue();
}
