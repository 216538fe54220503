import { ApiError, type Collection, type Doc, type DocumentStore, isId, newId } from '@cpod/runtime';

export interface Person {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  createdAt: string;
  updatedAt: string;
}

type PersonDoc = Person & Doc;

export interface CreatePersonInput {
  name: string;
  email?: string | null;
  phone?: string | null;
}

export type UpdatePersonInput = Partial<CreatePersonInput>;

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{2,63}$/;
const PHONE = /^\+?[0-9][0-9 ().-]{3,30}$/;

function invalid(field: string, message: string): ApiError {
  return new ApiError('ERR_VALIDATION_FAILED', `${field}: ${message}`, { field });
}

function cleanName(name: unknown): string {
  if (typeof name !== 'string') throw invalid('name', 'must be a string');
  const trimmed = name.trim();
  if (trimmed.length === 0) throw invalid('name', 'must not be empty');
  if (trimmed.length > 200) throw invalid('name', 'must be at most 200 characters');
  return trimmed;
}

function cleanOptional(field: 'email' | 'phone', value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (field === 'email' && !EMAIL.test(trimmed)) throw invalid('email', 'is not a valid email address');
  if (field === 'phone' && !PHONE.test(trimmed)) throw invalid('phone', 'is not a valid phone number');
  return trimmed;
}

export function checkPersonId(id: string): string {
  if (!isId(id, 'per')) throw invalid('id', 'is not a valid person id');
  return id;
}

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isId(id, 'per')) throw invalid('after', 'is not a cursor returned by this API');
  return id;
}

export interface PersonPage {
  items: Person[];
  cursors: string[];
  hasNextPage: boolean;
}

/** People of one tenant; every call takes the tenant from the validated token, never from input. */
export class PersonRepository {
  private readonly people: Collection<PersonDoc>;

  constructor(store: DocumentStore) {
    this.people = store.collection<PersonDoc>('people');
  }

  async create(tenant: string, input: CreatePersonInput): Promise<Person> {
    const now = new Date().toISOString();
    const person: PersonDoc = {
      id: newId('per'),
      name: cleanName(input.name),
      email: cleanOptional('email', input.email),
      phone: cleanOptional('phone', input.phone),
      createdAt: now,
      updatedAt: now,
    };
    return this.people.insert(tenant, person);
  }

  get(tenant: string, id: string): Promise<Person | null> {
    return this.people.get(tenant, checkPersonId(id));
  }

  async list(tenant: string, args: { first?: number | null; after?: string | null }): Promise<PersonPage> {
    const first = args.first ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      throw invalid('first', `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    const after = args.after ? decodeCursor(args.after) : undefined;
    const rows = await this.people.list(tenant, { limit: first + 1, after, order: 'asc' });
    const items = rows.slice(0, first);
    return { items, cursors: items.map((p) => encodeCursor(p.id)), hasNextPage: rows.length > first };
  }

  async update(tenant: string, id: string, input: UpdatePersonInput): Promise<Person | null> {
    checkPersonId(id);
    const patch: Partial<PersonDoc> = {};
    if (input.name !== undefined) patch.name = cleanName(input.name);
    if (input.email !== undefined) patch.email = cleanOptional('email', input.email);
    if (input.phone !== undefined) patch.phone = cleanOptional('phone', input.phone);
    if (Object.keys(patch).length === 0) throw invalid('input', 'give at least one of name, email, phone');
    patch.updatedAt = new Date().toISOString();
    return this.people.update(tenant, id, patch);
  }

  delete(tenant: string, id: string): Promise<boolean> {
    return this.people.delete(tenant, checkPersonId(id));
  }
}
