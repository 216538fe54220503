import {
  assertDocId,
  assertTenant,
  clampLimit,
  collectionTableName,
  patchEntries,
  toJson,
  whereEntries,
} from './document-rules.js';
import type { Collection, Doc, DocumentStore, FieldValue, ListOptions } from './ports.js';
import { storeConflict } from './store-errors.js';

/**
 * The part of a PostgreSQL connection the document store needs. `pg.Pool` and PGlite both fit
 * behind it, so one implementation serves both dialects. Rows come back with `jsonb` already
 * parsed, as both drivers do by default.
 */
export interface SqlClient {
  query(text: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

export interface SqlDocumentStoreOptions {
  /** Reported as `DocumentStore.kind`: 'pglite' or 'postgres'. */
  kind: string;
  /** Schema holding the `cpod_<collection>` tables; it must exist. Default `public`. */
  schema?: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const UNIQUE_VIOLATION = '23505';
const DUPLICATE_TABLE = '42P07';

export function createSqlDocumentStore(client: SqlClient, options: SqlDocumentStoreOptions): DocumentStore {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new TypeError(`invalid schema name ${JSON.stringify(schema)}`);
  const collections = new Map<string, Collection<Doc>>();

  return {
    kind: options.kind,
    collection<T extends Doc>(name: string): Collection<T> {
      let collection = collections.get(name);
      if (!collection) {
        collection = sqlCollection(client, schema, name);
        collections.set(name, collection);
      }
      return collection as unknown as Collection<T>;
    },
    async ping() {
      await client.query('select 1');
    },
    close: () => client.close(),
  };
}

function sqlCollection(client: SqlClient, schema: string, name: string): Collection<Doc> {
  const tableName = collectionTableName(name);
  const table = `"${schema}"."${tableName}"`;
  let ready: Promise<void> | undefined;

  // Created on first use rather than by a migration step, so a new collection needs no deploy
  // ritual. Once per store instance; a failed attempt is forgotten so the next call retries.
  const ensureTable = (): Promise<void> => {
    ready ??= createTable(client, schema, tableName).catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };

  const run = async (text: string, params: unknown[]) => {
    await ensureTable();
    return (await client.query(text, params)).rows;
  };

  const get = async (tenant: string, id: string): Promise<Doc | null> => {
    assertTenant(tenant);
    const rows = await run(`select body from ${table} where tenant_id = $1 and id = $2`, [tenant, id]);
    return (rows[0]?.body as Doc | undefined) ?? null;
  };

  return {
    get,

    async insert(tenant, doc) {
      assertTenant(tenant);
      assertDocId(doc.id);
      try {
        const rows = await run(
          `insert into ${table} (tenant_id, id, body) values ($1, $2, $3::jsonb) returning body`,
          [tenant, doc.id, JSON.stringify(toJson(doc))],
        );
        return rows[0]!.body as Doc;
      } catch (err) {
        if (sqlState(err) === UNIQUE_VIOLATION) throw storeConflict(name, doc.id);
        throw err;
      }
    },

    async insertMany(tenant, docs) {
      assertTenant(tenant);
      if (docs.length === 0) return 0;
      for (const doc of docs) assertDocId(doc.id);
      try {
        // One statement is atomic: every row or none.
        const rows = await run(
          `insert into ${table} (tenant_id, id, body)
             select $1, d.id, d.body from jsonb_to_recordset($2::jsonb) as d(id text, body jsonb)
             returning id`,
          [tenant, JSON.stringify(docs.map((doc) => ({ id: doc.id, body: toJson(doc) })))],
        );
        return rows.length;
      } catch (err) {
        if (sqlState(err) === UNIQUE_VIOLATION) return 0;
        throw err;
      }
    },

    async update(tenant, id, patch) {
      assertTenant(tenant);
      const changes = patchEntries(patch);
      if (changes.length === 0) return get(tenant, id);
      // One statement: the merge happens inside PostgreSQL, so concurrent patches of different
      // fields cannot overwrite each other the way read-modify-write would.
      const rows = await run(
        `update ${table} set body = body || $3::jsonb where tenant_id = $1 and id = $2 returning body`,
        [tenant, id, JSON.stringify(toJson(Object.fromEntries(changes)))],
      );
      return (rows[0]?.body as Doc | undefined) ?? null;
    },

    async delete(tenant, id) {
      assertTenant(tenant);
      const rows = await run(`delete from ${table} where tenant_id = $1 and id = $2 returning id`, [
        tenant,
        id,
      ]);
      return rows.length > 0;
    },

    async list(tenant, options: ListOptions) {
      assertTenant(tenant);
      const limit = clampLimit(options.limit);
      if (limit === 0) return [];
      const desc = options.order === 'desc';
      const params: unknown[] = [tenant];
      const conditions = ['tenant_id = $1'];
      if (options.after !== undefined) {
        params.push(options.after);
        conditions.push(`id ${desc ? '<' : '>'} $${params.length}`);
      }
      conditions.push(...filterConditions(options.where, params));
      params.push(limit);
      const rows = await run(
        `select body from ${table} where ${conditions.join(' and ')} order by id ${desc ? 'desc' : 'asc'} limit $${params.length}`,
        params,
      );
      return rows.map((row) => row.body as Doc);
    },

    async count(tenant, where) {
      assertTenant(tenant);
      const params: unknown[] = [tenant];
      const conditions = ['tenant_id = $1', ...filterConditions(where, params)];
      const rows = await run(`select count(*) as n from ${table} where ${conditions.join(' and ')}`, params);
      return Number(rows[0]!.n);
    },
  };
}

/** Appends parameters to `params` and returns the matching SQL conditions. */
function filterConditions(where: Record<string, FieldValue> | undefined, params: unknown[]): string[] {
  return whereEntries(where).map(([field, value]) => {
    params.push(field, JSON.stringify(value));
    const key = `$${params.length - 1}::text`;
    const val = `$${params.length}::jsonb`;
    // A null filter also matches a missing field, which is what MongoDB does for `{field: null}`.
    return value === null ? `coalesce(body -> ${key}, 'null'::jsonb) = ${val}` : `body -> ${key} = ${val}`;
  });
}

async function createTable(client: SqlClient, schema: string, tableName: string): Promise<void> {
  // Two processes creating the same table at once can collide inside the catalog (a unique
  // violation on pg_type even with IF NOT EXISTS), so creators queue on an advisory lock that is
  // released when the DO block's implicit transaction ends. ids and tenants use the "C" collation
  // so that id order is byte order, as in MongoDB, whatever the database's locale.
  const ddl = `do $cpod$ begin
    perform pg_advisory_xact_lock(hashtext('cpod:ddl'), hashtext('${schema}.${tableName}'));
    create table if not exists "${schema}"."${tableName}" (
      tenant_id text collate "C" not null,
      id text collate "C" not null,
      body jsonb not null,
      primary key (tenant_id, id)
    );
  end $cpod$`;
  try {
    await client.query(ddl);
  } catch (err) {
    // Someone created it without taking our lock (an older version, an operator): it exists.
    const state = sqlState(err);
    if (state !== DUPLICATE_TABLE && state !== UNIQUE_VIOLATION) throw err;
  }
}

function sqlState(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}
