import { metadataSetter } from '@cpod/runtime';
import { InterceptingCall, type Interceptor, status } from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('@cpod/gateway');

/**
 * One client span per sidecar call, a child of the request's span, and the W3C trace
 * context (`traceparent`, `tracestate`) in the call's metadata so the sidecar's span joins
 * the same trace. grpc-js runs the interceptor synchronously inside the caller's call, so
 * the active context here is the caller's.
 */
export function tracingInterceptor(): Interceptor {
  return (options, nextCall) => {
    const rpc = options.method_definition.path.replace(/^\//, ''); // coresdk.v1.AuthService/ValidateToken
    const [service = '', method = ''] = rpc.split('/');
    const span = tracer.startSpan(rpc, {
      kind: SpanKind.CLIENT,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
    });
    const callContext = trace.setSpan(context.active(), span);
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        propagation.inject(callContext, metadata, metadataSetter);
        next(metadata, {
          onReceiveStatus(received, nextStatus) {
            span.setAttribute('rpc.grpc.status_code', received.code);
            if (received.code !== status.OK) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: received.details });
            }
            span.end();
            nextStatus(received);
          },
        });
      },
    });
  };
}
