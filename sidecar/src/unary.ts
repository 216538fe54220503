import type { Logger } from '@cpod/runtime';
import { ApiError, metadataGetter } from '@cpod/runtime';
import { type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { toServiceError } from './grpc-errors.js';
import { rpcSeconds, rpcTotal } from './metrics.js';

const tracer = trace.getTracer('@cpod/sidecar');

/** Server-side failures (OpenTelemetry's gRPC conventions); a denial or a bad token is an answer, not an error. */
const SERVER_ERRORS = new Set<number>([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

/**
 * Adapts an async handler to grpc-js: thrown errors become a gRPC status from the one
 * table in grpc-errors.ts, and unexpected ones are logged without reaching the caller.
 * Each call runs inside a server span that continues the caller's W3C trace context from
 * the call metadata, so the handler's log lines carry the caller's trace id.
 */
export function unary<Req, Res>(logger: Logger, method: string, handler: (request: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const started = performance.now();
    const rpc = call.getPath().replace(/^\//, '');
    const span = tracer.startSpan(
      rpc,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': rpc.split('/')[0] ?? '', 'rpc.method': method },
      },
      propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter),
    );
    const done = (outcome: string, code: number) => {
      rpcTotal.inc({ method, outcome });
      rpcSeconds.observe({ method, outcome }, (performance.now() - started) / 1000);
      span.setAttributes({ 'rpc.grpc.status_code': code, 'cpod.outcome': outcome });
      if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      logger.debug('rpc', {
        method,
        outcome,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
      });
      span.end();
    };
    context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
      handler(call.request).then(
        (response) => {
          done('ok', status.OK);
          callback(null, response);
        },
        (err: unknown) => {
          const error = ApiError.from(err);
          if (error.status >= 500) logger.error('rpc failed', { method, err });
          const serviceError = toServiceError(error);
          const code = serviceError.code ?? status.UNKNOWN;
          done(status[code]?.toLowerCase() ?? 'unknown', code);
          callback(serviceError, null);
        },
      ),
    );
  };
}
