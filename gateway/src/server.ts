import { readFileSync } from 'node:fs';
import { channelCredentials } from '@cpod/proto';
import {
  connectableHost,
  formatAddress,
  Gauge,
  httpUrl,
  type Logger,
  openDocumentStore,
  type PlatformConfig,
  type RunningHttpServer,
  startHttpServer,
} from '@cpod/runtime';
import { SidecarClient } from '@cpod/sdk';
import { createGateway } from './app.js';
import { createGatewayMetrics } from './metrics.js';
import { startRevocationFeed } from './oauth-proxy.js';
import { createAuditQueue } from './plugins/use-audit.js';
import { sidecarFailMode } from './sidecar-fail-mode.js';
import { tracingInterceptor } from './tracing-interceptor.js';

export interface RunningGateway {
  http: RunningHttpServer;
  console: RunningHttpServer;
  close(): Promise<void>;
}

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export async function startGateway(config: PlatformConfig, logger: Logger): Promise<RunningGateway> {
  const store = await openDocumentStore(config.stores('gateway'));
  const tls = config.gateway.sidecarTls;
  const sidecar = new SidecarClient({
    address: formatAddress({ ...config.sidecar.addr, host: connectableHost(config.sidecar.addr.host) }),
    timeoutMs: config.sidecar.timeoutMs,
    ...sidecarFailMode(config, logger),
    // Every sidecar call gets a client span and carries the request's trace context.
    interceptors: [tracingInterceptor()],
    // mTLS when the sidecar serves it (a non-loopback address): its CA, and our client pair.
    credentials: tls
      ? channelCredentials.createSsl(
          readFileSync(tls.caFile),
          readFileSync(tls.keyFile),
          readFileSync(tls.certFile),
        )
      : undefined,
  });
  const sidecarHealth = `${httpUrl(config.sidecar.metricsAddr)}/readyz`;
  const controlPlaneReady = `${config.gateway.controlPlaneUrl}/readyz`;
  const auditQueue = createAuditQueue({ sidecar, logger, ...config.gateway.audit });
  const gateway = createGateway({
    store,
    sidecar,
    logger,
    auditQueue,
    controlPlaneUrl: config.gateway.controlPlaneUrl,
    maxBodyBytes: config.gateway.maxBodyBytes,
    readiness: async () => {
      const [gatewayStore, sidecarReady, cpReady] = await Promise.all([
        store.ping().then(
          () => true,
          () => false,
        ),
        isReady(sidecarHealth),
        isReady(controlPlaneReady),
      ]);
      return { gateway: gatewayStore, sidecar: sidecarReady, control_plane: cpReady };
    },
  });
  const metrics = createGatewayMetrics(Object.keys(gateway.openApi.paths ?? {}));
  metrics.registry.add(
    new Gauge(
      'cpod_gateway_audit_queue_depth',
      'Audit events waiting for the sidecar to record them.',
      () => auditQueue.depth,
    ),
  );
  metrics.registry.add(
    new Gauge(
      'cpod_gateway_audit_events_sent_total',
      'Audit events the sidecar recorded.',
      () => auditQueue.sent,
      'counter',
    ),
  );
  metrics.registry.add(
    new Gauge(
      'cpod_gateway_audit_events_dropped_total',
      'Audit events dropped because the sidecar rejected their batch as invalid.',
      () => auditQueue.dropped,
      'counter',
    ),
  );
  const http = await startHttpServer({
    addr: config.gateway.addr,
    fetch: metrics.measure('public', (r, connection) => gateway.fetch(r, connection)),
    logger,
  });
  // Tokens revoked anywhere (refresh or code replay, another replica) reach this sidecar too.
  const revocationFeed = config.revocationFeedToken
    ? startRevocationFeed({
        controlPlaneUrl: config.gateway.controlPlaneUrl,
        feedToken: config.revocationFeedToken,
        sidecar,
        logger,
      })
    : undefined;
  if (!revocationFeed) {
    logger.warn(
      'CPOD_REVOCATION_FEED_TOKEN is not set: tokens revoked by replay detection stay valid here until they expire',
    );
  }
  const console = await startHttpServer({
    addr: config.gateway.consoleAddr,
    // Prometheus scrapes the internal console listener; the public one has no /metrics.
    fetch: metrics.measure('console', async (r) =>
      r.method === 'GET' && new URL(r.url).pathname === '/metrics'
        ? metrics.render()
        : gateway.consoleFetch(r),
    ),
    logger,
  });
  logger.info('gateway listening', { url: http.url, console: console.url, store: store.kind });
  return {
    http,
    console,
    close: async () => {
      await Promise.all([http.close(), console.close(), revocationFeed?.stop()]);
      // Requests answered before the listeners closed still owe their audit records.
      if (!(await auditQueue.close(config.sidecar.timeoutMs * 5)))
        logger.error('audit events still queued at shutdown were not recorded', { events: auditQueue.depth });
      sidecar.close();
      await store.close();
    },
  };
}
