import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  AuditServiceService,
  AuthServiceService,
  HealthService,
  PolicyServiceService,
  RateLimitServiceService,
} from '@cpod/proto';
import {
  type Address,
  formatAddress,
  isLoopbackHost,
  type Logger,
  openDocumentStore,
  openKeyValueStore,
  type PlatformConfig,
  type RunningHttpServer,
  startHttpServer,
  type TlsFiles,
} from '@cpod/runtime';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { AuditChain } from './audit/audit-chain.js';
import { startAuditCheckpoints } from './audit/audit-checkpoints.js';
import { TokenValidator } from './auth/token-validator.js';
import { devKeyPath, devKeySet, insecureDevWarning, loadOrCreateDevKey } from './dev-token.js';
import { healthService, isReady, probe } from './health.js';
import { Gauge, jwksRefreshes, registry } from './metrics.js';
import { PolicyPool } from './policy/policy-pool.js';
import { readPolicySet } from './policy/policy-set.js';
import { PolicyWatcher } from './policy/policy-watcher.js';
import { auditService } from './services/audit-service.js';
import { authService } from './services/auth-service.js';
import { KvOutage, revocationsUnderFailMode } from './services/kv-outage.js';
import { policyService } from './services/policy-service.js';
import { FailoverBuckets, rateLimitService } from './services/rate-limit-service.js';

export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../policies', import.meta.url));

export interface RunningSidecar {
  address: Address;
  health: RunningHttpServer;
  close(): Promise<void>;
}

/** How the sidecar runs, once the configuration has passed every start-up check. */
export interface SidecarSetup {
  issuer: string;
  audience: string;
  /** An issuer's JWKS, or (development only, opted into) the sidecar's own dev key file. */
  keys: { kind: 'jwks'; uri: string } | { kind: 'dev'; file: string };
  /** Set: gRPC is served with mTLS, requiring a client certificate signed by the CA. */
  tls: TlsFiles | undefined;
  /** Logged at every start and shown in every /healthz answer. */
  warnings: string[];
}

const TLS_VARIABLES = {
  certFile: 'CORESDK_TLS_CERT_FILE',
  keyFile: 'CORESDK_TLS_KEY_FILE',
  caFile: 'CORESDK_TLS_CA_FILE',
} as const;

/** Start-up refusals: every one names what is missing, and none can be switched off by accident. */
export function checkSidecarConfig(config: PlatformConfig): SidecarSetup {
  const s = config.sidecar;
  const production = config.env === 'production';
  const problems: string[] = [];
  const warnings: string[] = [];

  const tlsSet = (Object.keys(TLS_VARIABLES) as Array<keyof typeof TLS_VARIABLES>).filter(
    (k) => s.tlsPartial[k],
  );
  const tlsMissing = Object.entries(TLS_VARIABLES)
    .filter(([k]) => !s.tlsPartial[k as keyof typeof TLS_VARIABLES])
    .map(([, variable]) => variable);
  if (tlsSet.length > 0 && tlsMissing.length > 0) {
    problems.push(
      `mTLS is half configured: ${tlsMissing.join(', ')} ${tlsMissing.length > 1 ? 'are' : 'is'} missing`,
    );
  } else if (!isLoopbackHost(s.addr.host) && !s.tls) {
    problems.push(
      `CORESDK_SIDECAR_ADDR ${formatAddress(s.addr)} is not a loopback address; the sidecar is the trust boundary and serves other addresses only with mTLS: set ${tlsMissing.join(', ')}`,
    );
  }

  if (production) {
    if (!s.jwksUri) problems.push('CORESDK_JWKS_URI is required in production');
    if (!s.expectedIssuer) problems.push('CORESDK_EXPECTED_ISSUER is required in production');
    if (!s.expectedAudience) problems.push('CORESDK_EXPECTED_AUDIENCE is required in production');
    if (s.insecureDevTokens) problems.push('CORESDK_INSECURE_DEV_TOKENS must not be set in production');
  } else {
    if (!s.jwksUri && !s.insecureDevTokens) {
      problems.push(
        'CORESDK_JWKS_URI is required: without it no token signature can be verified (for local development only, CORESDK_INSECURE_DEV_TOKENS=1 verifies tokens minted by dev-token-cli instead)',
      );
    }
    if (!s.expectedIssuer) problems.push('CORESDK_EXPECTED_ISSUER is required');
    if (!s.expectedAudience) problems.push('CORESDK_EXPECTED_AUDIENCE is required');
  }
  if (problems.length > 0 || !s.expectedIssuer || !s.expectedAudience) {
    throw new Error(`sidecar refuses to start:\n  - ${problems.join('\n  - ')}`);
  }

  let keys: SidecarSetup['keys'];
  if (s.jwksUri) {
    keys = { kind: 'jwks', uri: s.jwksUri };
    if (s.insecureDevTokens) warnings.push('CORESDK_INSECURE_DEV_TOKENS is ignored: CORESDK_JWKS_URI is set');
  } else {
    const file = devKeyPath(config);
    keys = { kind: 'dev', file };
    warnings.push(insecureDevWarning(file));
  }
  return { issuer: s.expectedIssuer, audience: s.expectedAudience, keys, tls: s.tls, warnings };
}

/** mTLS with a required client certificate, or plaintext for a loopback-only listener. */
function serverCredentials(tls: TlsFiles | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const read = (key: keyof typeof TLS_VARIABLES) => {
    try {
      return readFileSync(tls[key]);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new Error(`sidecar refuses to start: ${TLS_VARIABLES[key]} ${tls[key]} cannot be read (${code})`);
    }
  };
  return ServerCredentials.createSsl(
    read('caFile'),
    [{ cert_chain: read('certFile'), private_key: read('keyFile') }],
    true,
  );
}

export async function startSidecar(config: PlatformConfig, logger: Logger): Promise<RunningSidecar> {
  const setup = checkSidecarConfig(config);
  const credentials = serverCredentials(setup.tls);
  for (const warning of setup.warnings) logger.warn(warning);
  const keys = setup.keys.kind === 'dev' ? devKeySet(await loadOrCreateDevKey(setup.keys.file)) : undefined;
  const policyDir = config.sidecar.policyDir ?? DEFAULT_POLICY_DIR;
  const pool = await PolicyPool.start({
    set: readPolicySet(policyDir),
    size: config.sidecar.policyWorkers,
    budgetMs: config.sidecar.policyBudgetMs,
    logger,
  });
  const watcher = new PolicyWatcher(policyDir, pool, logger);
  watcher.start();
  const stores = config.stores('sidecar');
  const documents = await openDocumentStore(stores);
  const kv = await openKeyValueStore({ redisUrl: stores.redisUrl });
  const kvOutage = new KvOutage(config.sidecar.failMode, logger);
  const rateLimitBuckets = new FailoverBuckets(kv, kvOutage);
  const closeResources = async () => {
    watcher.close();
    await Promise.all([documents.close(), kv.close(), pool.close(), rateLimitBuckets.close()]);
  };
  const validator = new TokenValidator({
    issuer: setup.issuer,
    audience: setup.audience,
    jwksUri: setup.keys.kind === 'jwks' ? setup.keys.uri : undefined,
    keys,
    onJwksFetch: (result) => jwksRefreshes.inc({ result }),
    revocations: revocationsUnderFailMode(kv, kvOutage),
  });
  registry.add(
    new Gauge(
      'cpod_sidecar_token_cache_hits_total',
      'ValidateToken calls answered from the verified-token cache (no signature check).',
      () => validator.cacheStats.hits,
      'counter',
    ),
  );
  registry.add(
    new Gauge(
      'cpod_sidecar_token_cache_misses_total',
      'ValidateToken calls that needed a signature check.',
      () => validator.cacheStats.misses,
      'counter',
    ),
  );
  registry.add(
    new Gauge(
      'cpod_sidecar_policy_queue_depth',
      'Policy evaluations waiting or running in the workers.',
      () => pool.queueDepth,
    ),
  );
  const chain = new AuditChain(documents);
  const checkpoints = await startAuditCheckpoints(config, chain, logger);

  const dependencies = { documents, kv, policyLoaded: () => pool.revision !== '' };
  const health = healthService(dependencies);
  const server = new Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  server.addService(HealthService, health.service);
  const rateLimit = { buckets: rateLimitBuckets, defaultLimit: config.sidecar.rateLimit };
  server.addService(
    AuthServiceService,
    authService({ validator, policy: pool, revocations: kv, rateLimit, logger }),
  );
  server.addService(RateLimitServiceService, rateLimitService({ ...rateLimit, logger }));
  server.addService(AuditServiceService, auditService({ chain, logger, checkpoints }));
  server.addService(PolicyServiceService, policyService({ pool, watcher, logger }));

  const target = formatAddress(config.sidecar.addr);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  ).catch(async (err: unknown) => {
    await closeResources();
    throw err;
  });
  const address = { host: config.sidecar.addr.host, port };

  const policyStatus = () => ({
    dir: policyDir,
    kind: pool.kind,
    revision: pool.revision,
    modules: pool.modules,
    loaded_at: pool.loadedAt.toISOString(),
    last_reload_error: watcher.lastFailure?.message,
  });
  const http = await startHttpServer({
    addr: config.sidecar.metricsAddr,
    logger,
    fetch: async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/healthz') {
        // The warnings (insecure dev tokens) ride along on every probe, where someone will see them.
        return Response.json(
          setup.warnings.length > 0 ? { status: 'ok', warnings: setup.warnings } : { status: 'ok' },
        );
      }
      if (path === '/metrics') {
        return new Response(registry.render(), {
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        });
      }
      if (path === '/readyz') {
        const readiness = await probe(dependencies);
        if (isReady(readiness)) return Response.json({ status: 'ready', policy: policyStatus() });
        return Response.json({ status: 'not ready', reasons: readiness.reasons }, { status: 503 });
      }
      return Response.json({ status: 404, title: 'Not Found' }, { status: 404 });
    },
  });
  logger.info('sidecar listening', {
    grpc: formatAddress(address),
    health: http.url,
    mtls: setup.tls !== undefined,
    verifies_against: setup.keys.kind === 'jwks' ? setup.keys.uri : 'local dev key',
    policy_dir: policyDir,
    policy_revision: pool.revision,
    policy_workers: config.sidecar.policyWorkers,
    store: documents.kind,
    kv: kv.kind,
  });

  return {
    address,
    health: http,
    close: async () => {
      health.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await http.close();
      await checkpoints.close();
      await closeResources();
    },
  };
}
