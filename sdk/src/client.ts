import {
  type AuditEventInput,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
  emitAuditEvent,
  queryAudit,
} from './audit.js';
import { CpodError } from './errors.js';
import { GraphQLClient } from './graphql-client.js';
import { HttpClient } from './http.js';
import { PeopleApi } from './people.js';
import { evaluatePolicy, type PolicyDecision } from './policy.js';
import { checkRateLimit, type RateLimitDecision } from './rate-limit.js';
import { TokenManager } from './token-manager.js';

export interface CpodClientOptions {
  /** Gateway origin, e.g. `https://api.example.com` (a path prefix is kept). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes to request, e.g. `people:read people:write`; default: all the app's scopes. */
  scope?: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 10 000). */
  timeoutMs?: number;
  /**
   * Informational only, exposed as `client.tenantId`: the server takes the tenant from the access
   * token, so the SDK never sends it.
   */
  tenantId?: string;
}

/** Environment variables read by {@link CpodClient.fromEnv}. */
export interface CpodEnv {
  CPOD_API_URL?: string | undefined;
  CPOD_CLIENT_ID?: string | undefined;
  CPOD_CLIENT_SECRET?: string | undefined;
  CPOD_TENANT_ID?: string | undefined;
  [name: string]: string | undefined;
}

export const DEFAULT_API_URL = 'http://localhost:8000';

function configError(message: string): CpodError {
  return new CpodError({ status: 0, code: 'ERR_SDK_CONFIG', message });
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * REST client of the cpod gateway. Obtains and refreshes OAuth2 client-credentials tokens itself,
 * retries once after a 401 (with a new token), a 429 or a 503, and throws {@link CpodError}
 * subclasses for failures.
 *
 * @example
 * import { CpodClient, NotFoundError } from '@cpod/sdk';
 *
 * const client = new CpodClient({
 *   baseUrl: 'http://localhost:8000',
 *   clientId: process.env.CPOD_CLIENT_ID!,
 *   clientSecret: process.env.CPOD_CLIENT_SECRET!,
 * });
 * const ada = await client.people.create({ name: 'Ada Lovelace' });
 * await client.people.delete(ada.id);
 * await client.people.get(ada.id).catch((err) => console.log(err instanceof NotFoundError)); // true
 */
export class CpodClient {
  /** People in the caller's tenant. */
  readonly people: PeopleApi;
  /** Executes the codegen-typed GraphQL documents with the same token handling. */
  readonly graphql: GraphQLClient;
  /** The token cache, shareable with other clients of the same app (e.g. a GraphQL client). */
  readonly tokens: TokenManager;
  /** Authenticated JSON requests, for endpoints without a typed wrapper yet. */
  readonly http: HttpClient;
  readonly baseUrl: string;
  readonly clientId: string;
  /** From `CPOD_TENANT_ID` or the options; for display and logging only, never sent. */
  readonly tenantId: string | undefined;

  constructor(options: CpodClientOptions) {
    if (!nonEmpty(options.clientId)) throw configError('clientId is required');
    if (!nonEmpty(options.clientSecret)) throw configError('clientSecret is required');
    this.baseUrl = normaliseBaseUrl(options.baseUrl);
    this.clientId = options.clientId;
    this.tenantId = nonEmpty(options.tenantId);
    const transport = { fetch: options.fetch, timeoutMs: options.timeoutMs };
    this.tokens = new TokenManager({
      ...transport,
      baseUrl: this.baseUrl,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      scope: options.scope,
    });
    this.http = new HttpClient({ ...transport, baseUrl: this.baseUrl, tokens: this.tokens });
    this.people = new PeopleApi(this.http);
    this.graphql = new GraphQLClient(this.http);
  }

  /**
   * Evaluates a loaded policy rule against `input` (`POST /v1/policy/evaluate`, scope
   * `policy:evaluate`). A policy that is merely "no" is `allowed: false`, not an error; a broken or
   * runaway policy rejects with a `CpodError` whose `code` says which (`ERR_POLICY_ERROR`,
   * `ERR_POLICY_TIMEOUT`).
   *
   * @example
   * const { allowed, result } = await client.evaluatePolicy('cpod/authz/decision', {
   *   claims: { tenant_id: 'acme', scope: 'people:read' },
   *   action: 'read',
   *   resource: 'people',
   * });
   */
  evaluatePolicy(path: string, input: unknown): Promise<PolicyDecision> {
    return evaluatePolicy(this.http, path, input);
  }

  /**
   * Your tenant's audit records, oldest first (`GET /v1/audit`, scope `audit:read`), filtered by
   * actor, action, resource, outcome and an `occurred_at` range, with cursor pagination.
   * `verifyChain: true` also recomputes every link and compares the chain with the signed
   * checkpoints: `chainValid`, and `firstBrokenSeq` when it is not.
   *
   * @example
   * let page = await client.queryAudit({ outcome: 'deny', from: new Date(Date.now() - 3_600_000) });
   * while (page.nextCursor) page = await client.queryAudit({ outcome: 'deny', after: page.nextCursor });
   * const { chainValid, firstBrokenSeq } = await client.queryAudit({ first: 1, verifyChain: true });
   */
  queryAudit(query: AuditQuery = {}): Promise<AuditPage> {
    return queryAudit(this.http, query);
  }

  /**
   * Appends an application event to your tenant's audit chain (`POST /v1/audit/events`, scope
   * `audit:write`); the actor is the token's subject. Personal data in `metadata` is masked.
   *
   * @example
   * const record = await client.emitAuditEvent({
   *   action: 'invoice.approve',
   *   resource: 'invoices/inv_42',
   *   outcome: 'allow',
   *   metadata: { amount: 120 },
   * });
   * console.log(record.seq, record.record_hash);
   */
  emitAuditEvent(input: AuditEventInput): Promise<AuditRecord> {
    return emitAuditEvent(this.http, input);
  }

  /**
   * Takes one call from a rate limit bucket of your own: at most `limit` calls per
   * `windowSeconds`, as a token bucket (bursts up to `limit`, refilled evenly over the window).
   * The key is namespaced by your tenant — every app and replica of the tenant shares it — and
   * needs scope `rate_limits:write`. A refused call resolves with `allowed: false`.
   *
   * @example
   * const { allowed, retryAfterSeconds } = await client.checkRateLimit(`user:${userId}:export`, 5, 3600);
   * if (!allowed) throw new Error(`try again in ${retryAfterSeconds} s`);
   */
  checkRateLimit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    return checkRateLimit(this.http, key, limit, windowSeconds);
  }

  /**
   * A client configured from environment variables: `CPOD_API_URL` (default
   * `http://localhost:8000`), `CPOD_CLIENT_ID`, `CPOD_CLIENT_SECRET` (both required) and
   * `CPOD_TENANT_ID` (optional, informational). Throws a `CpodError` with code `ERR_SDK_CONFIG`
   * naming every missing variable.
   *
   * @example
   * // CPOD_CLIENT_ID=... CPOD_CLIENT_SECRET=... node app.js
   * const client = CpodClient.fromEnv();
   * const { nodes } = await client.people.list({ first: 10 });
   *
   * @example
   * const client = CpodClient.fromEnv(
   *   { CPOD_API_URL: 'https://api.example.com', CPOD_CLIENT_ID: id, CPOD_CLIENT_SECRET: secret },
   *   { scope: 'people:read', timeoutMs: 5000 },
   * );
   */
  static fromEnv(
    env: CpodEnv = process.env,
    options: Partial<Pick<CpodClientOptions, 'scope' | 'fetch' | 'timeoutMs'>> = {},
  ): CpodClient {
    const clientId = nonEmpty(env.CPOD_CLIENT_ID);
    const clientSecret = nonEmpty(env.CPOD_CLIENT_SECRET);
    const missing = [
      clientId ? undefined : 'CPOD_CLIENT_ID',
      clientSecret ? undefined : 'CPOD_CLIENT_SECRET',
    ].filter((name) => name !== undefined);
    if (!clientId || !clientSecret) {
      throw configError(
        `missing environment variable${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}: ` +
          'set the client credentials of an OAuth app registered for your tenant',
      );
    }
    const tenantId = nonEmpty(env.CPOD_TENANT_ID);
    return new CpodClient({
      ...options,
      baseUrl: normaliseBaseUrl(nonEmpty(env.CPOD_API_URL) ?? DEFAULT_API_URL, 'CPOD_API_URL'),
      clientId,
      clientSecret,
      ...(tenantId ? { tenantId } : {}),
    });
  }
}

/** `label` names the setting in messages; the value itself is not echoed, as it might embed credentials. */
function normaliseBaseUrl(baseUrl: string, label = 'baseUrl'): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw configError(`${label} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(`${label} must be an http or https URL, got ${url.protocol}`);
  }
  if (url.search || url.hash) throw configError(`${label} must not have a query string or fragment`);
  if (url.username || url.password) throw configError(`${label} must not contain credentials`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
