import pg from 'pg';
import type { DocumentStore } from './ports.js';
import { createSqlDocumentStore, type SqlClient } from './sql-documents.js';
import { storeUnavailable } from './store-errors.js';

export interface PostgresDocumentsOptions {
  /** `postgres://user:password@host:port/database`; credentials never appear in errors. */
  url: string;
  /** Schema of the collection tables; it must exist. Default `public`. */
  schema?: string | undefined;
  /** Pool size. Default 10. */
  maxConnections?: number | undefined;
  /** How long to wait for a connection before failing with ERR_STORE_UNAVAILABLE. Default 5000. */
  connectTimeoutMs?: number | undefined;
}

/** Opens a pool lazily: nothing connects until the first query or `ping()`. */
export async function openPostgresDocuments(options: PostgresDocumentsOptions): Promise<DocumentStore> {
  const { url } = options;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
  });
  // An idle connection dropped by the server is reported here; without a listener Node would
  // crash the process. The pool replaces the connection and the next query reports any outage.
  pool.on('error', () => {});

  const client: SqlClient = {
    async query(text, params) {
      try {
        const result = await pool.query(text, params);
        return { rows: result.rows as Record<string, unknown>[] };
      } catch (err) {
        throw isConnectionError(err) ? storeUnavailable('PostgreSQL', url, err) : err;
      }
    },
    close: () => pool.end(),
  };
  return createSqlDocumentStore(client, { kind: 'postgres', schema: options.schema });
}

/**
 * Errors that say "the database cannot serve us" rather than "this statement is wrong": anything
 * below the SQL layer (sockets, timeouts, a closed pool) and the SQLSTATE classes for connection
 * exceptions (08), resources (53), operator intervention (57P), authorisation (28) and a missing
 * database (3D000).
 */
function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const isServerError = 'severity' in err && 'code' in err && typeof err.code === 'string';
  if (!isServerError) return true;
  const code = err.code as string;
  return /^(08|53|57P|28)/.test(code) || code === '3D000';
}
