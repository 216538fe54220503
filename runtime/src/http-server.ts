import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { type Address, formatAddress } from './config/address.js';
import type { Logger } from './logger.js';
import { problemResponse } from './problem.js';

/** What a fetch handler learns about the connection besides the Request itself. */
export interface ConnectionInfo {
  remoteAddress: string;
}

export type FetchHandler = (request: Request, connection: ConnectionInfo) => Response | Promise<Response>;

export interface RunningHttpServer {
  /** The bound address (the real port when 0 was asked for). */
  address: Address;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves a fetch handler on a node:http listener. A handler that throws gets a generic
 * problem+json 500 (never a stack trace), and the error is logged.
 */
export function startHttpServer(options: {
  addr: Address;
  fetch: FetchHandler;
  logger: Logger;
}): Promise<RunningHttpServer> {
  const listener = getRequestListener(
    (request, env: HttpBindings | Http2Bindings) =>
      options.fetch(request, { remoteAddress: env.incoming.socket.remoteAddress ?? '' }),
    {
      errorHandler: (err) => {
        options.logger.error('unhandled error in request handler', { err });
        return problemResponse(err);
      },
    },
  );
  const server = createServer(listener);
  // Slow clients must not hold connections forever.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.addr.port, options.addr.host, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      const address = { host: info.address, port: info.port };
      resolve({
        address,
        url: `http://${formatAddress(address)}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
