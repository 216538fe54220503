import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Handler = (req: Received, res: ServerResponse, index: number) => void;

/**
 * A real listener on port 0 that answers with scripted handlers and records what it
 * received. Call the returned `closeAll` from afterEach to stop every server a test opened.
 */
export function scriptedServers(): {
  listen(handler: Handler): Promise<{ url: string; received: Received[] }>;
  closeAll(): Promise<void>;
} {
  const closers: Array<() => Promise<void>> = [];
  return {
    async listen(handler) {
      const received: Received[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => {
          body += chunk;
        });
        req.on('end', () => {
          const entry = {
            method: req.method ?? '',
            path: req.url ?? '',
            headers: req.headers,
            body,
            at: Date.now(),
          };
          received.push(entry);
          handler(entry, res, received.length - 1);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      );
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
    },
    closeAll: async () => {
      await Promise.all(closers.splice(0).map((close) => close()));
    },
  };
}
