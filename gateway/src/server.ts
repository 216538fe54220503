import {
  formatAddress,
  httpUrl,
  type Logger,
  openDocumentStore,
  type PlatformConfig,
  type RunningHttpServer,
  startHttpServer,
} from '@cpod/runtime';
import { SidecarClient } from '@cpod/sdk';
import { createGateway } from './app.js';

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
  const sidecar = new SidecarClient({
    address: formatAddress(config.sidecar.addr),
    timeoutMs: config.sidecar.timeoutMs,
  });
  const sidecarHealth = `${httpUrl(config.sidecar.metricsAddr)}/readyz`;
  const controlPlaneReady = `${config.gateway.controlPlaneUrl}/readyz`;
  const gateway = createGateway({
    store,
    sidecar,
    logger,
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
  const http = await startHttpServer({ addr: config.gateway.addr, fetch: (r) => gateway.fetch(r), logger });
  const console = await startHttpServer({
    addr: config.gateway.consoleAddr,
    fetch: (r) => gateway.consoleFetch(r),
    logger,
  });
  logger.info('gateway listening', { url: http.url, console: console.url, store: store.kind });
  return {
    http,
    console,
    close: async () => {
      await Promise.all([http.close(), console.close()]);
      sidecar.close();
      await store.close();
    },
  };
}
