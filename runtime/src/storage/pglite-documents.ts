import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { ApiError } from '../errors.js';
import type { DocumentStore } from './ports.js';
import { createSqlDocumentStore, type SqlClient } from './sql-documents.js';

export interface PgliteDocumentsOptions {
  /** Directory of the embedded database; undefined keeps it in memory (tests, throwaway runs). */
  dataDir?: string | undefined;
}

/**
 * PostgreSQL compiled to WASM, in process: the embedded default when no server is configured.
 * One PGlite instance owns its data directory, so only one process may open a given dataDir.
 */
export async function openPgliteDocuments(options: PgliteDocumentsOptions = {}): Promise<DocumentStore> {
  const { dataDir } = options;
  try {
    if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
    const db = new PGlite(dataDir);
    await db.waitReady;
    return createSqlDocumentStore(pgliteSqlClient(db), { kind: 'pglite' });
  } catch (err) {
    throw new ApiError(
      'ERR_STORE_UNAVAILABLE',
      `embedded database ${dataDir ?? '(memory)'} could not be opened: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/**
 * PGlite has a single connection; it queues concurrent queries itself, so the adapter needs no
 * lock of its own. Exported so tests can put two stores over one database.
 */
export function pgliteSqlClient(db: PGlite): SqlClient {
  return {
    async query(text, params) {
      const result = await db.query<Record<string, unknown>>(text, params);
      return { rows: result.rows };
    },
    close: () => db.close(),
  };
}
