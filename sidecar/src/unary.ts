import type { Logger } from '@cpod/runtime';
import { ApiError } from '@cpod/runtime';
import { type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { toServiceError } from './grpc-errors.js';
import { rpcSeconds, rpcTotal } from './metrics.js';

/**
 * Adapts an async handler to grpc-js: thrown errors become a gRPC status from the one
 * table in grpc-errors.ts, and unexpected ones are logged without reaching the caller.
 */
export function unary<Req, Res>(logger: Logger, method: string, handler: (request: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const started = performance.now();
    const done = (outcome: string) => {
      rpcTotal.inc({ method, outcome });
      rpcSeconds.observe({ method }, (performance.now() - started) / 1000);
    };
    handler(call.request).then(
      (response) => {
        done('ok');
        callback(null, response);
      },
      (err: unknown) => {
        const error = ApiError.from(err);
        if (error.status >= 500) logger.error('rpc failed', { method, err });
        const serviceError = toServiceError(error);
        done(status[serviceError.code ?? status.UNKNOWN]?.toLowerCase() ?? 'unknown');
        callback(serviceError, null);
      },
    );
  };
}
