import { randomBytes } from 'node:crypto';
import {
  type Address,
  type Logger,
  openDocumentStore,
  type PlatformConfig,
  type RunningHttpServer,
  startHttpServer,
} from '@cpod/runtime';
import { createControlPlaneApp } from './app.js';
import { expiryIndex, startExpirySweeper } from './oauth/expiry-index.js';
import { loadSigningKeys } from './signing-keys.js';

export interface RunningControlPlane {
  http: RunningHttpServer;
  adminToken: string;
  close(): Promise<void>;
}

export function generateAdminToken(): string {
  return `cpa_${randomBytes(32).toString('base64url')}`;
}

export async function startControlPlane(
  config: PlatformConfig,
  logger: Logger,
  options: { addr?: Address } = {},
): Promise<RunningControlPlane> {
  const adminToken = config.adminToken ?? generateAdminToken();
  const store = await openDocumentStore(config.stores('control-plane'));
  try {
    const keys = await loadSigningKeys(config.controlPlane.signingKeyPath, {
      tokenTtlSeconds: config.controlPlane.accessTokenTtlSeconds,
    });
    const app = createControlPlaneApp({
      store,
      keys,
      logger,
      adminToken,
      revocationFeedToken: config.revocationFeedToken,
      issuer: config.controlPlane.issuer,
      audience: config.controlPlane.audience,
      accessTokenTtlSeconds: config.controlPlane.accessTokenTtlSeconds,
      secretCacheTtlMs: config.controlPlane.clientSecretCacheTtlMs,
      maxBodyBytes: config.gateway.maxBodyBytes,
    });
    const http = await startHttpServer({
      addr: options.addr ?? config.controlPlane.addr,
      // The peer address reaches the routes as a binding (`c.env.remoteAddress`): the failure
      // throttle counts per source address, and only a loopback peer's X-Forwarded-For is believed.
      fetch: (request, connection) => app.fetch(request, { remoteAddress: connection.remoteAddress }),
      logger,
    });
    // Expired codes, refresh tokens and revocations are deleted rather than left to pile up.
    const sweeper = startExpirySweeper({
      index: expiryIndex(store),
      clock: Date.now,
      intervalMs: 60_000,
      onError: (err) => logger.warn('expired OAuth records could not be swept', { err }),
    });
    logger.info('control plane listening', { url: http.url, kid: keys.current.kid, store: store.kind });
    return {
      http,
      adminToken,
      close: async () => {
        await http.close();
        await sweeper.stop();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
