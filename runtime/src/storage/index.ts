export { openLocalBlobs } from './blob-local.js';
export { type BlobStoreOptions, openBlobStore } from './blob-open.js';
export { openS3Blobs } from './blob-s3.js';
export { assertBlobKey, type BlobPutResult, type BlobStore } from './blob-store.js';
export { MAX_LIST_LIMIT } from './document-rules.js';
export { createMemoryKeyValue } from './memory-kv.js';
export { type MongoDocumentsOptions, openMongoDocuments } from './mongo-documents.js';
export {
  type DocumentStoreOptions,
  type KeyValueStoreOptions,
  openDocumentStore,
  openKeyValueStore,
} from './open-stores.js';
export { openPgliteDocuments, type PgliteDocumentsOptions } from './pglite-documents.js';
export type {
  BucketResult,
  Collection,
  Doc,
  DocumentStore,
  FieldValue,
  KeyValueStore,
  ListOptions,
  TokenBucket,
} from './ports.js';
export { openPostgresDocuments, type PostgresDocumentsOptions } from './postgres-documents.js';
export { openRedisKeyValue, type RedisKeyValueOptions } from './redis-kv.js';
export { createSqlDocumentStore, type SqlClient, type SqlDocumentStoreOptions } from './sql-documents.js';
