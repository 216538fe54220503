import {
  type AuditEvent,
  type AuditRecord,
  AuditServiceClient,
  type AuthorizeRequest,
  type AuthorizeResponse,
  AuthServiceClient,
  type CheckRateLimitRequest,
  type CheckRateLimitResponse,
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
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';

export interface SidecarClientOptions {
  /** `host:port`, e.g. `[::1]:50051` (CORESDK_SIDECAR_ADDR). */
  address: string;
  /** Deadline of each call in milliseconds (default 2000). */
  timeoutMs?: number;
  credentials?: ChannelCredentials;
}

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

  constructor(options: SidecarClientOptions) {
    const creds = options.credentials ?? credentials.createInsecure();
    // Reconnect quickly after a sidecar restart instead of grpc-js's default multi-second backoff.
    const channelOptions = {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
    };
    this.auth = new AuthServiceClient(options.address, creds, channelOptions);
    this.rateLimit = new RateLimitServiceClient(options.address, creds, channelOptions);
    this.audit = new AuditServiceClient(options.address, creds, channelOptions);
    this.policy = new PolicyServiceClient(options.address, creds, channelOptions);
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  validateToken(token: string): Promise<ValidateTokenResponse> {
    return this.call(this.auth, this.auth.validateToken, { token });
  }

  authorize(request: AuthorizeRequest): Promise<AuthorizeResponse> {
    return this.call(this.auth, this.auth.authorize, request);
  }

  revokeToken(request: Partial<RevokeTokenRequest>): Promise<RevokeTokenResponse> {
    return this.call(this.auth, this.auth.revokeToken, { token: '', tokenId: '', expiresAt: 0, ...request });
  }

  checkRateLimit(request: CheckRateLimitRequest): Promise<CheckRateLimitResponse> {
    return this.call(this.rateLimit, this.rateLimit.checkRateLimit, request);
  }

  async resetRateLimit(request: ResetRateLimitRequest): Promise<void> {
    await this.call(this.rateLimit, this.rateLimit.resetRateLimit, request);
  }

  async emitAuditEvent(event: AuditEvent): Promise<AuditRecord | undefined> {
    return (await this.call(this.audit, this.audit.emitAuditEvent, { event })).record;
  }

  queryAudit(request: Partial<QueryAuditRequest> & { tenantId: string }): Promise<QueryAuditResponse> {
    return this.call(this.audit, this.audit.queryAudit, {
      actor: '',
      action: '',
      outcome: '',
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
    for (const client of [this.auth, this.rateLimit, this.audit, this.policy]) client.close();
  }

  private call<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
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
    });
  }
}
