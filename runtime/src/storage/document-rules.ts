import type { FieldValue } from './ports.js';

/**
 * Rules every document adapter applies identically, so that business code sees the same
 * behaviour whichever backend configuration picked.
 */

export const MAX_LIST_LIMIT = 1000;

// `cpod_` + 48 stays well inside PostgreSQL's 63-byte identifier limit and MongoDB's namespace limit.
const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,47}$/;
// Filter fields are interpolated into query paths (`body -> $n`, `body.<field>`), so only plain
// identifiers are accepted: no dots (MongoDB paths) and no `$` (MongoDB operators).
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Returns the backend name (`cpod_<name>`) of a collection; throws on names outside `[a-z][a-z0-9_]*`. */
export function collectionTableName(name: string): string {
  if (!COLLECTION_NAME.test(name)) {
    throw new TypeError(`invalid collection name ${JSON.stringify(name)}: expected [a-z][a-z0-9_]{0,47}`);
  }
  return `cpod_${name}`;
}

export function assertTenant(tenant: string): void {
  if (typeof tenant !== 'string' || tenant === '') throw new TypeError('a tenant is required');
}

export function assertDocId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') throw new TypeError('a document needs a non-empty string id');
}

/** Clamps a requested page size into `[0, MAX_LIST_LIMIT]`. */
export function clampLimit(limit: number): number {
  if (typeof limit !== 'number' || Number.isNaN(limit)) throw new TypeError('list limit must be a number');
  return Math.min(Math.max(Math.floor(limit), 0), MAX_LIST_LIMIT);
}

export function whereEntries(where: Record<string, FieldValue> | undefined): [string, FieldValue][] {
  if (where === undefined) return [];
  const entries = Object.entries(where);
  for (const [field, value] of entries) {
    if (!FIELD_NAME.test(field)) throw new TypeError(`invalid filter field ${JSON.stringify(field)}`);
    const type = typeof value;
    if (value !== null && type !== 'string' && type !== 'number' && type !== 'boolean') {
      throw new TypeError(`filter on ${field} must be a string, number, boolean or null`);
    }
  }
  return entries;
}

/**
 * The fields a patch really changes. The id is the document's identity and never changes;
 * `undefined` means "leave as is" (JSON has no undefined, and MongoDB would store it as null).
 */
export function patchEntries(patch: object): [string, unknown][] {
  return Object.entries(patch).filter(([field, value]) => field !== 'id' && value !== undefined);
}

/**
 * The JSON form of a value, which is what every backend stores: PostgreSQL would turn a Date
 * into a string while MongoDB kept a BSON date, so both get the string.
 */
export function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
