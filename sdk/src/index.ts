export type {
  AuditEventInput,
  AuditPage,
  AuditQuery,
  AuditRecord,
} from './audit.js';
export { AuditQueue, type AuditQueueOptions, type QueuedAuditEvent } from './audit-queue.js';
export {
  type AuthStorage,
  BrowserAuth,
  type BrowserAuthOptions,
  createPkcePair,
  memoryStorage,
  type PkcePair,
  pkceChallenge,
  type TokenSet,
  type WebStorageLike,
  webStorage,
} from './browser-auth.js';
export { CpodClient, type CpodClientOptions, type CpodEnv, DEFAULT_API_URL } from './client.js';
export {
  AuthError,
  CpodError,
  type CpodErrorCode,
  type CpodErrorOptions,
  NotFoundError,
  PolicyDeniedError,
  RateLimitError,
  type RateLimitErrorOptions,
  ValidationError,
} from './errors.js';
export * from './generated/graphql.js';
export {
  GraphQLClient,
  type GraphQLErrorPayload,
  GraphQLRequestError,
  type GraphQLTransport,
} from './graphql-client.js';
export {
  HttpClient,
  type HttpClientOptions,
  type RequestOptions,
  type TokenSource,
  type TransportOptions,
} from './http.js';
export { LocalTokenVerifier, type LocalTokenVerifierOptions } from './local-token-verifier.js';
export {
  type CreatePersonInput,
  type ListPeopleOptions,
  type PageInfo,
  PeopleApi,
  type Person,
  type PersonConnection,
  type PersonEdge,
  type UpdatePersonInput,
} from './people.js';
export type { PolicyDecision } from './policy.js';
export type { RateLimitDecision } from './rate-limit.js';
export {
  type MaybeFailOpen,
  SidecarClient,
  type SidecarClientOptions,
  SidecarError,
} from './sidecar-client.js';
export { TokenManager, type TokenManagerOptions } from './token-manager.js';
