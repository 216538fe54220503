import { ValidationError } from './errors.js';
import type { HttpClient } from './http.js';

/** A person as the gateway returns it. */
export interface Person {
  id: string;
  name: string;
  /** `null` when not set. */
  email: string | null;
  /** `null` when not set. */
  phone: string | null;
  /** ISO-8601 timestamp. */
  createdAt: string;
  /** ISO-8601 timestamp. */
  updatedAt: string;
}

export interface CreatePersonInput {
  name: string;
  email?: string;
  phone?: string;
}

/** Only the fields present are changed; `null` clears `email` or `phone`. */
export interface UpdatePersonInput {
  name?: string;
  email?: string | null;
  phone?: string | null;
}

export interface PersonEdge {
  cursor: string;
  node: Person;
}

export interface PageInfo {
  hasNextPage: boolean;
  /** Pass as `after` to fetch the next page; `null` on an empty page. */
  endCursor: string | null;
}

/** One page of people, Relay-style: `nodes` is `edges[].node` for callers that do not need cursors. */
export interface PersonConnection {
  edges: PersonEdge[];
  nodes: Person[];
  pageInfo: PageInfo;
}

export interface ListPeopleOptions {
  /** Page size; the server applies its default and maximum. */
  first?: number;
  /** `pageInfo.endCursor` of the previous page. */
  after?: string;
}

/**
 * The id as one path segment. `encodeURIComponent` leaves `.` alone and URL parsing collapses `.`
 * and `..` segments (even percent-encoded), so those would address a different route; they and the
 * empty string can never be a person's id and are refused here.
 */
function personPath(id: string): string {
  if (typeof id !== 'string' || id === '' || id === '.' || id === '..') {
    throw new ValidationError({
      status: 0,
      code: 'ERR_SDK_INVALID_ARGUMENT',
      message: 'person id must be a non-empty string other than "." or ".."',
      field: 'id',
    });
  }
  return `/v1/people/${encodeURIComponent(id)}`;
}

/**
 * `client.people`: create, read, update, delete and page through people in the caller's tenant
 * (the tenant comes from the access token, never from the request).
 */
export class PeopleApi {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /**
   * Creates a person (`POST /v1/people`).
   *
   * @example
   * const ada = await client.people.create({ name: 'Ada Lovelace', email: 'ada@example.com' });
   * console.log(ada.id, ada.phone); // phone is null
   */
  async create(input: CreatePersonInput): Promise<Person> {
    return this.#http.request<Person>('POST', '/v1/people', { body: input });
  }

  /**
   * Fetches one person; rejects with `NotFoundError` when there is none with this id in the tenant.
   *
   * @example
   * const person = await client.people.get('per_123');
   */
  async get(id: string): Promise<Person> {
    return this.#http.request<Person>('GET', personPath(id));
  }

  /**
   * One page of people; follow `pageInfo.endCursor` for the next.
   *
   * @example
   * let after: string | undefined;
   * do {
   *   const page = await client.people.list({ first: 50, after });
   *   for (const person of page.nodes) console.log(person.name);
   *   after = page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? undefined) : undefined;
   * } while (after);
   */
  async list(options: ListPeopleOptions = {}): Promise<PersonConnection> {
    return this.#http.request<PersonConnection>('GET', '/v1/people', {
      query: { first: options.first, after: options.after },
    });
  }

  /**
   * Changes the given fields (`PATCH /v1/people/{id}`); `null` clears `email` or `phone`.
   *
   * @example
   * const updated = await client.people.update(ada.id, { phone: '+44 20 7946 0000', email: null });
   */
  async update(id: string, input: UpdatePersonInput): Promise<Person> {
    return this.#http.request<Person>('PATCH', personPath(id), { body: input });
  }

  /**
   * Deletes a person; rejects with `NotFoundError` when it does not exist.
   *
   * @example
   * await client.people.delete(ada.id);
   */
  async delete(id: string): Promise<void> {
    await this.#http.request<unknown>('DELETE', personPath(id));
  }
}
