import { fileURLToPath } from 'node:url';
import {
  AuditServiceService,
  AuthServiceService,
  PolicyServiceService,
  RateLimitServiceService,
} from '@cpod/proto';
import {
  type Address,
  ApiError,
  formatAddress,
  isLoopbackHost,
  type Logger,
  openDocumentStore,
  openKeyValueStore,
  type PlatformConfig,
  type RunningHttpServer,
  startHttpServer,
} from '@cpod/runtime';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { AuditChain } from './audit/audit-chain.js';
import { TokenValidator } from './auth/token-validator.js';
import { Gauge, registry } from './metrics.js';
import { PolicyPool } from './policy/policy-pool.js';
import { readPolicySet } from './policy/policy-set.js';
import { PolicyWatcher } from './policy/policy-watcher.js';
import { auditService } from './services/audit-service.js';
import { authService } from './services/auth-service.js';
import { policyService } from './services/policy-service.js';
import { rateLimitService } from './services/rate-limit-service.js';

export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../policies', import.meta.url));

export interface RunningSidecar {
  address: Address;
  health: RunningHttpServer;
  close(): Promise<void>;
}

/** Start-up refusals: every one names what is missing, and none can be switched off by accident. */
export function checkSidecarConfig(config: PlatformConfig): {
  jwksUri: string;
  issuer: string;
  audience: string;
} {
  const s = config.sidecar;
  const problems: string[] = [];
  if (!isLoopbackHost(s.addr.host)) {
    problems.push(
      `CORESDK_SIDECAR_ADDR ${formatAddress(s.addr)} is not a loopback address; the sidecar is the trust boundary and only listens on loopback (mTLS for other addresses is not available yet)`,
    );
  }
  if (!s.jwksUri)
    problems.push('CORESDK_JWKS_URI is required: without it no token signature can be verified');
  if (!s.expectedIssuer) problems.push('CORESDK_EXPECTED_ISSUER is required in production');
  if (!s.expectedAudience) problems.push('CORESDK_EXPECTED_AUDIENCE is required in production');
  if (problems.length > 0 || !s.jwksUri || !s.expectedIssuer || !s.expectedAudience) {
    throw new Error(`sidecar refuses to start:\n  - ${problems.join('\n  - ')}`);
  }
  return { jwksUri: s.jwksUri, issuer: s.expectedIssuer, audience: s.expectedAudience };
}

export async function startSidecar(config: PlatformConfig, logger: Logger): Promise<RunningSidecar> {
  const checked = checkSidecarConfig(config);
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
  const closeResources = async () => {
    watcher.close();
    await Promise.all([documents.close(), kv.close(), pool.close()]);
  };
  const validator = new TokenValidator({ ...checked, revocations: kv });
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

  const server = new Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  server.addService(AuthServiceService, authService({ validator, policy: pool, revocations: kv, logger }));
  server.addService(
    RateLimitServiceService,
    rateLimitService({ kv, defaultLimit: config.sidecar.rateLimit, logger }),
  );
  server.addService(AuditServiceService, auditService({ chain, logger }));
  server.addService(PolicyServiceService, policyService({ pool, watcher, logger }));

  const target = formatAddress(config.sidecar.addr);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
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
  const health = await startHttpServer({
    addr: config.sidecar.metricsAddr,
    logger,
    fetch: async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/healthz') return Response.json({ status: 'ok' });
      if (path === '/metrics') {
        return new Response(registry.render(), {
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        });
      }
      if (path === '/readyz') {
        try {
          await Promise.all([documents.ping(), kv.ping()]);
          return Response.json({ status: 'ready', policy: policyStatus() });
        } catch (err) {
          return Response.json(
            { status: 'not ready', reason: ApiError.from(err).publicMessage },
            { status: 503 },
          );
        }
      }
      return Response.json({ status: 404, title: 'Not Found' }, { status: 404 });
    },
  });
  logger.info('sidecar listening', {
    grpc: formatAddress(address),
    health: health.url,
    policy_dir: policyDir,
    policy_revision: pool.revision,
    policy_workers: config.sidecar.policyWorkers,
    store: documents.kind,
    kv: kv.kind,
  });

  return {
    address,
    health,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await health.close();
      await closeResources();
    },
  };
}
