import {
  type Filter,
  MongoBulkWriteError,
  MongoClient,
  type Collection as MongoCollection,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoParseError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
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
import { storeConflict, storeUnavailable } from './store-errors.js';

export interface MongoDocumentsOptions {
  /** `mongodb://` or `mongodb+srv://` URL; credentials never appear in errors. */
  url: string;
  /** Database name; defaults to the one in the URL, else `cpod`. */
  database?: string | undefined;
  /** How long an operation waits for a reachable server before ERR_STORE_UNAVAILABLE. Default 5000. */
  connectTimeoutMs?: number | undefined;
}

/**
 * The stored shape. The document lives under `body` so that its own fields can never collide with
 * the tenant key; `_id` is left to MongoDB and uniqueness comes from the (tenant_id, id) index.
 */
interface Row {
  tenant_id: string;
  id: string;
  body: Doc;
}

const DUPLICATE_KEY = 11000;
const INDEX_NAME = 'tenant_id_1_id_1';

/** Connects lazily: the driver dials on the first operation or `ping()`. */
export async function openMongoDocuments(options: MongoDocumentsOptions): Promise<DocumentStore> {
  const { url } = options;
  const timeout = options.connectTimeoutMs ?? 5000;
  let client: MongoClient;
  try {
    client = new MongoClient(url, { serverSelectionTimeoutMS: timeout, connectTimeoutMS: timeout });
  } catch (err) {
    throw storeUnavailable('MongoDB', url, err);
  }
  const db = client.db(options.database ?? databaseFromUrl(url) ?? 'cpod');
  const guard = async <R>(operation: () => Promise<R>): Promise<R> => {
    try {
      return await operation();
    } catch (err) {
      throw isConnectionError(err) ? storeUnavailable('MongoDB', url, err) : err;
    }
  };
  const collections = new Map<string, Collection<Doc>>();

  return {
    kind: 'mongodb',
    collection<T extends Doc>(name: string): Collection<T> {
      let collection = collections.get(name);
      if (!collection) {
        collection = mongoCollection(db.collection<Row>(collectionTableName(name)), name, guard);
        collections.set(name, collection);
      }
      return collection as unknown as Collection<T>;
    },
    async ping() {
      await guard(() => db.command({ ping: 1 }));
    },
    close: () => client.close(),
  };
}

type Guard = <R>(operation: () => Promise<R>) => Promise<R>;

function mongoCollection(coll: MongoCollection<Row>, name: string, guard: Guard): Collection<Doc> {
  let ready: Promise<void> | undefined;

  // The unique index is both the conflict check and the access path of every query, which all
  // filter on tenant_id first. createIndex is idempotent; two processes creating the collection
  // at the same moment can still see a transient server error, so one retry.
  const ensureIndex = (): Promise<void> => {
    const create = () => coll.createIndex({ tenant_id: 1, id: 1 }, { unique: true, name: INDEX_NAME });
    ready ??= guard(async () => {
      try {
        await create();
      } catch (err) {
        if (!(err instanceof MongoServerError)) throw err;
        await create();
      }
    }).catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };

  const run = async <R>(operation: () => Promise<R>): Promise<R> => {
    await ensureIndex();
    return guard(operation);
  };

  const get = async (tenant: string, id: string): Promise<Doc | null> => {
    assertTenant(tenant);
    const row = await run(() => coll.findOne({ tenant_id: tenant, id }, { projection: { _id: 0, body: 1 } }));
    return row?.body ?? null;
  };

  return {
    get,

    async insert(tenant, doc) {
      assertTenant(tenant);
      assertDocId(doc.id);
      const body = toJson(doc);
      try {
        await run(() => coll.insertOne({ tenant_id: tenant, id: doc.id, body }));
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) throw storeConflict(name, doc.id);
        throw err;
      }
      return body;
    },

    async insertMany(tenant, docs) {
      assertTenant(tenant);
      if (docs.length === 0) return 0;
      for (const doc of docs) assertDocId(doc.id);
      const rows = docs.map((doc) => ({ tenant_id: tenant, id: doc.id, body: toJson(doc) }));
      try {
        // Ordered: the server stops at the first duplicate, so what was written is a prefix.
        return (await run(() => coll.insertMany(rows, { ordered: true }))).insertedCount;
      } catch (err) {
        if (err instanceof MongoBulkWriteError && err.code === DUPLICATE_KEY) return err.insertedCount;
        throw err;
      }
    },

    async update(tenant, id, patch) {
      assertTenant(tenant);
      const changes = patchEntries(patch);
      if (changes.length === 0) return get(tenant, id);
      const set: Record<string, unknown> = {};
      for (const [field, value] of changes) {
        // `$set` reads dots as paths and `$` as operators; such keys cannot be merged shallowly.
        if (field.includes('.') || field.startsWith('$')) throw new TypeError(`cannot patch field ${field}`);
        set[`body.${field}`] = toJson(value);
      }
      const row = await run(() =>
        coll.findOneAndUpdate(
          { tenant_id: tenant, id },
          { $set: set },
          { returnDocument: 'after', projection: { _id: 0, body: 1 } },
        ),
      );
      return row?.body ?? null;
    },

    async delete(tenant, id) {
      assertTenant(tenant);
      const result = await run(() => coll.deleteOne({ tenant_id: tenant, id }));
      return result.deletedCount > 0;
    },

    async list(tenant, options: ListOptions) {
      assertTenant(tenant);
      const limit = clampLimit(options.limit);
      if (limit === 0) return [];
      const desc = options.order === 'desc';
      const filter = rowFilter(tenant, options.where);
      if (options.after !== undefined) filter.id = desc ? { $lt: options.after } : { $gt: options.after };
      const rows = await run(() =>
        coll
          .find(filter as Filter<Row>, { projection: { _id: 0, body: 1 } })
          .sort({ id: desc ? -1 : 1 })
          .limit(limit)
          .toArray(),
      );
      return rows.map((row) => row.body);
    },

    async count(tenant, where) {
      assertTenant(tenant);
      return run(() => coll.countDocuments(rowFilter(tenant, where) as Filter<Row>));
    },
  };
}

function rowFilter(tenant: string, where: Record<string, FieldValue> | undefined): Record<string, unknown> {
  const filter: Record<string, unknown> = { tenant_id: tenant };
  for (const [field, value] of whereEntries(where)) filter[`body.${field}`] = value;
  return filter;
}

function databaseFromUrl(url: string): string | undefined {
  const name = /^mongodb(?:\+srv)?:\/\/[^/]*\/([^?#]*)/i.exec(url)?.[1];
  return name ? decodeURIComponent(name) : undefined;
}

function isConnectionError(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoParseError
  );
}
