import {
  type AuditEvent,
  type AuditRecord,
  AuditServiceClient,
  type AuthorizeRequest,
  type AuthorizeResponse,
  AuthServiceClient,
  type CheckRateLimitRequest,
  type CheckRateLimitResponse,
  type CheckRequest,
  type CheckResponse,
  type DryRunRequest,
  type DryRunResponse,
  type EvaluateResponse,
  PolicyServiceClient,
  type QueryAuditRequest,
  type QueryAuditResponse,
  RateLimitServiceClient,
  type ResetRateLimitRequest,
  type RevokeTokenRequest,
  type RevokeTokenResponse,
  type ValidateTokenResponse,
  type VerifyChainResponse,
} from '@cpod/proto';
import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientUnaryCall,
  credentials,
  type Interceptor,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { appRateLimit } from './access-token-rules.js';
import { LocalBuckets } from './local-buckets.js';
import { localScopeDecision } from './local-scope-check.js';
import { LocalTokenVerifier } from './local-token-verifier.js';

export interface SidecarClientOptions {
  /** `host:port`, e.g. `[::1]:50051` (CORESDK_SIDECAR_ADDR). */
  address: string;
  /** Deadline of each call in milliseconds (default 2000). */
  timeoutMs?: number;
  credentials?: ChannelCredentials;
  /** Client interceptors run on every call of every service (e.g. W3C trace context). */
  interceptors?: Interceptor[];
  /**
   * What happens when the sidecar is unreachable or past its deadline (CORESDK_FAIL_MODE).
   * `closed` (default): the call rejects with an unavailable {@link SidecarError}, which the
   * gateway answers with 503. `open`: validateToken verifies the token in-process against the
   * cached JWKS of `localVerification`, authorize applies the default policy's scope rule,
   * checkRateLimit takes from an in-process bucket, and each such answer carries `failOpen: true`.
   */
  failMode?: 'closed' | 'open';
  /** Required for failMode `open`: where the token issuer's keys are and what the tokens must say. */
  localVerification?: { jwksUri: string; issuer: string; audience: string };
  /** The limit the in-process buckets apply when a call names none (fail-open only). */
  defaultRateLimit?: { capacity: number; refillPerSecond: number };
  /**
   * Most calls waiting for the sidecar at once (default 1024). Beyond it calls fail at once as
   * unavailable instead of queueing: a stalled sidecar must not grow an unbounded backlog.
   */
  maxInFlight?: number;
  /**
   * Fail-open only: told when answers start being made in-process (`true`, with the error that
   * caused it) and when the sidecar answers again (`false`) — once per outage, for the log.
   */
  onFailOpenChange?: (failingOpen: boolean, cause?: SidecarError) => void;
}

/** A fail-open answer: made in-process because the sidecar could not be asked. */
export type MaybeFailOpen<T> = T & { failOpen?: true };

/**
 * An RPC that failed. `unavailable` is true when the sidecar could not be reached or did
 * not answer in time — the case the caller's fail mode decides about.
 */
export class SidecarError extends Error {
  override readonly name = 'SidecarError';
  constructor(
    message: string,
    readonly grpcCode: status,
    /** The platform error code from the `cpod-error-code` trailer, when the sidecar sent one. */
    readonly code: string | undefined,
  ) {
    super(message);
  }

  get unavailable(): boolean {
    return this.grpcCode === status.UNAVAILABLE || this.grpcCode === status.DEADLINE_EXCEEDED;
  }

  /**
   * The sidecar itself could not be asked. Unlike `unavailable`, false when the sidecar answered
   * with its own unavailable code (e.g. its store is down): that answer already applied the fail mode.
   */
  get unreachable(): boolean {
    return this.unavailable && this.code === undefined;
  }
}

/** AuthService.Check's steps, decided in-process while the sidecar cannot be asked (fail-open). */
async function localCheck(
  fallback: { verifier: LocalTokenVerifier; buckets: LocalBuckets },
  request: CheckRequest,
): Promise<CheckResponse> {
  const token = await fallback.verifier.verify(request.token);
  if (!token.valid || !token.principal) return { token };
  const { claims, tenantId, clientId } = token.principal;
  let decision: CheckResponse['decision'];
  for (const check of request.checks) {
    decision = localScopeDecision({ claims, ...check, context: request.context });
    if (!decision.allowed) return { token, decision, deniedCheck: check };
  }
  if (request.rateLimitCost === 0) return { token, decision };
  const rateLimit = fallback.buckets.take({
    bucket: { tenantId, clientId, key: '' },
    cost: request.rateLimitCost,
    limit: appRateLimit(claims),
  });
  return { token, decision, rateLimit };
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/**
 * Typed promise client for the sidecar's gRPC services (AuthService, RateLimitService,
 * AuditService, PolicyService). The gateway calls the sidecar only through this class.
 *
 * @example
 * const sidecar = new SidecarClient({ address: '[::1]:50051' });
 * const { valid, principal } = await sidecar.validateToken(token);
 */
export class SidecarClient {
  private readonly auth: AuthServiceClient;
  private readonly rateLimit: RateLimitServiceClient;
  private readonly audit: AuditServiceClient;
  private readonly policy: PolicyServiceClient;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private failingOpen = false;
  private readonly onFailOpenChange: SidecarClientOptions['onFailOpenChange'];
  /** Set only in fail-open mode. */
  private readonly fallback: { verifier: LocalTokenVerifier; buckets: LocalBuckets } | undefined;

  constructor(options: SidecarClientOptions) {
    const creds = options.credentials ?? credentials.createInsecure();
    // Reconnect quickly after a sidecar restart instead of grpc-js's default multi-second backoff.
    const channelOptions = {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      interceptors: options.interceptors ?? [],
    };
    this.auth = new AuthServiceClient(options.address, creds, channelOptions);
    this.rateLimit = new RateLimitServiceClient(options.address, creds, channelOptions);
    this.audit = new AuditServiceClient(options.address, creds, channelOptions);
    this.policy = new PolicyServiceClient(options.address, creds, channelOptions);
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.onFailOpenChange = options.onFailOpenChange;
    if (options.failMode === 'open') {
      if (!options.localVerification)
        throw new Error('failMode "open" needs localVerification (JWKS URI, issuer and audience)');
      const verifier = new LocalTokenVerifier(options.localVerification);
      // Fetched now, while the issuer is up, so the keys are at hand when the sidecar is not.
      verifier.refresh().catch(() => {});
      this.fallback = {
        verifier,
        buckets: new LocalBuckets(options.defaultRateLimit ?? { capacity: 100, refillPerSecond: 20 }),
      };
    }
  }

  validateToken(token: string): Promise<MaybeFailOpen<ValidateTokenResponse>> {
    return this.withFallback(this.call(this.auth, this.auth.validateToken, { token }), (f) =>
      f.verifier.verify(token),
    );
  }

  authorize(request: AuthorizeRequest): Promise<MaybeFailOpen<AuthorizeResponse>> {
    return this.withFallback(this.call(this.auth, this.auth.authorize, request), () =>
      localScopeDecision(request),
    );
  }

  /**
   * One request's whole admission in one round trip (AuthService.Check): the token, then each
   * access check, then `rateLimitCost` tokens from the bucket of the token's tenant and client.
   * It stops at the first refusal, so read `token.valid`, then `decision.allowed`, then
   * `rateLimit.allowed`. In fail-open mode the three in-process fallbacks answer in that order.
   *
   * @example
   * const { token, decision, rateLimit } = await sidecar.check({
   *   token: accessToken,
   *   checks: [{ action: 'read', resource: 'people' }],
   *   rateLimitCost: 1,
   * });
   */
  check(request: Partial<CheckRequest> & { token: string }): Promise<MaybeFailOpen<CheckResponse>> {
    const full: CheckRequest = { checks: [], rateLimitCost: 0, context: undefined, ...request };
    return this.withFallback(this.call(this.auth, this.auth.check, full), (f) => localCheck(f, full));
  }

  revokeToken(request: Partial<RevokeTokenRequest>): Promise<RevokeTokenResponse> {
    return this.call(this.auth, this.auth.revokeToken, { token: '', tokenId: '', expiresAt: 0, ...request });
  }

  checkRateLimit(request: CheckRateLimitRequest): Promise<MaybeFailOpen<CheckRateLimitResponse>> {
    return this.withFallback(this.call(this.rateLimit, this.rateLimit.checkRateLimit, request), (f) =>
      f.buckets.take(request),
    );
  }

  async resetRateLimit(request: ResetRateLimitRequest): Promise<void> {
    await this.call(this.rateLimit, this.rateLimit.resetRateLimit, request);
  }

  async emitAuditEvent(
    event: Omit<AuditEvent, 'idempotencyKey'> & { idempotencyKey?: string },
  ): Promise<AuditRecord | undefined> {
    const request = { event: { idempotencyKey: '', ...event } };
    return (await this.call(this.audit, this.audit.emitAuditEvent, request)).record;
  }

  /**
   * Appends a batch (at most 500 events) in order. Events with an `idempotencyKey` that is
   * already recorded return the existing record, so a failed batch can be sent again as is.
   */
  async emitAuditEvents(events: AuditEvent[]): Promise<AuditRecord[]> {
    return (await this.call(this.audit, this.audit.emitAuditEvents, { events })).records;
  }

  queryAudit(request: Partial<QueryAuditRequest> & { tenantId: string }): Promise<QueryAuditResponse> {
    return this.call(this.audit, this.audit.queryAudit, {
      actor: '',
      action: '',
      resource: '',
      outcome: '',
      occurredFrom: '',
      occurredTo: '',
      pageSize: 0,
      pageToken: '',
      ...request,
    });
  }

  verifyChain(tenantId: string): Promise<VerifyChainResponse> {
    return this.call(this.audit, this.audit.verifyChain, { tenantId });
  }

  evaluatePolicy(path: string, input: unknown): Promise<EvaluateResponse> {
    return this.call(this.policy, this.policy.evaluate, { path, input });
  }

  dryRunPolicy(request: DryRunRequest): Promise<DryRunResponse> {
    return this.call(this.policy, this.policy.dryRun, request);
  }

  close(): void {
    this.fallback?.verifier.close();
    for (const client of [this.auth, this.rateLimit, this.audit, this.policy]) client.close();
  }

  /** In fail-open mode, answers in-process when — and only when — the sidecar could not be asked. */
  private async withFallback<Res extends object>(
    call: Promise<Res>,
    local: (fallback: NonNullable<SidecarClient['fallback']>) => Res | Promise<Res>,
  ): Promise<MaybeFailOpen<Res>> {
    let response: Res;
    try {
      response = await call;
    } catch (err) {
      if (!this.fallback || !(err instanceof SidecarError) || !err.unreachable) throw err;
      if (!this.failingOpen) {
        this.failingOpen = true;
        this.onFailOpenChange?.(true, err);
      }
      return { ...(await local(this.fallback)), failOpen: true };
    }
    if (this.failingOpen) {
      this.failingOpen = false;
      this.onFailOpenChange?.(false);
    }
    return response as MaybeFailOpen<Res>;
  }

  private call<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    if (this.inFlight >= this.maxInFlight) {
      return Promise.reject(
        new SidecarError('too many sidecar calls in flight', status.UNAVAILABLE, undefined),
      );
    }
    this.inFlight++;
    return new Promise<Res>((resolve, reject) => {
      method.call(
        client,
        request,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (error, response) => {
          if (error) {
            const code = error.metadata?.get('cpod-error-code')[0];
            reject(
              new SidecarError(
                error.details || error.message,
                error.code,
                typeof code === 'string' ? code : undefined,
              ),
            );
          } else {
            resolve(response);
          }
        },
      );
    }).finally(() => {
      this.inFlight--;
    });
  }
}
