import type { Logger } from '@cpod/runtime';
import {
  context,
  isSpanContextValid,
  type Link,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';
import { type CompiledRoute, matchRoute } from '../rest/rest-routes.js';

const tracer = trace.getTracer('@cpod/gateway');

const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

export interface TracingOptions {
  logger: Logger;
  restRoutes: CompiledRoute[];
  graphqlEndpoint: string;
}

/**
 * One server span per HTTP request, REST and GraphQL alike, active while every other hook
 * of the chain runs — so the sidecar calls they make are its children (tracing-interceptor.ts)
 * and their log lines carry its trace id. Attributes are method, route template, status,
 * request id and the caller's tenant/client; never headers or bodies.
 *
 * An incoming `traceparent` is not adopted: this is the public listener, and a caller
 * choosing our trace ids (or switching sampling off) would let it merge its requests into
 * other traces or hide them. The caller's trace is kept as a span link instead, which
 * tracing back ends show as "started by" and which costs the caller nothing.
 */
export function useTracing(options: TracingOptions): Plugin<GatewayContext> {
  const routeOf = (request: Request): string => {
    const { pathname } = new URL(request.url);
    if (pathname === options.graphqlEndpoint) return pathname;
    const match = matchRoute(options.restRoutes, request.method, pathname);
    return match.kind === 'route' ? match.route.path : 'unmatched';
  };
  const inFlight = new WeakMap<Request, { route: string; started: number }>();
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const route = routeOf(request);
        const upstream = trace.getSpanContext(
          propagation.extract(ROOT_CONTEXT, request.headers, headerGetter),
        );
        // Ids only: the caller's `tracestate` is free text we would otherwise export unread.
        const links: Link[] =
          upstream && isSpanContextValid(upstream)
            ? [
                {
                  context: {
                    traceId: upstream.traceId,
                    spanId: upstream.spanId,
                    traceFlags: upstream.traceFlags,
                  },
                },
              ]
            : [];
        const span = tracer.startSpan(`${request.method} ${route}`, {
          kind: SpanKind.SERVER,
          root: true,
          links,
          attributes: { 'http.request.method': request.method, 'http.route': route },
        });
        inFlight.set(request, { route, started: performance.now() });
        return context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
          try {
            await wrapped();
          } catch (err) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: 'request failed' });
            throw err;
          } finally {
            span.end();
          }
        });
      },
    },
    onExecute({ args }) {
      const span = trace.getActiveSpan();
      if (!span?.isRecording()) return;
      const operation = getOperationAST(args.document, args.operationName);
      span.setAttributes({
        'graphql.operation.type': operation?.operation ?? 'unknown',
        ...(operation?.name ? { 'graphql.operation.name': operation.name.value } : {}),
      });
    },
    onResponse({ request, response }) {
      const state = requestState(request);
      const span = trace.getActiveSpan();
      if (span?.isRecording()) {
        span.setAttributes({
          'http.response.status_code': response.status,
          'cpod.request_id': state.requestId,
          ...(state.principal
            ? { 'cpod.tenant_id': state.principal.tenantId, 'cpod.client_id': state.principal.clientId }
            : {}),
        });
        if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      const info = inFlight.get(request);
      // The access line, written inside the span so that it carries the trace id.
      options.logger.debug('request', {
        method: request.method,
        route: info?.route,
        status: response.status,
        request_id: state.requestId,
        duration_ms: info && Math.round((performance.now() - info.started) * 10) / 10,
      });
    },
  };
}
