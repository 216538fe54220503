import { context, DiagLogLevel, diag, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.js';
import { AsyncLocalContextManager } from './context-manager.js';
import { MaskingSpanProcessor } from './masking-span-processor.js';

export interface TracingOptions {
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT, e.g. `http://collector:4318`; spans go to `<endpoint>/v1/traces`. */
  otlpEndpoint: string | undefined;
  logger: Logger;
}

export interface Tracing {
  /** True when spans are recorded and exported (an endpoint is set). */
  readonly exporting: boolean;
  /** Exports what is still queued, then unregisters the globals. */
  shutdown(): Promise<void>;
}

/** The OTLP/HTTP convention: the generic endpoint variable names the collector's base URL. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Registers the process-wide tracer provider, context manager and W3C trace-context
 * propagator. Spans are created by our own code (no auto-instrumentation).
 *
 * Without an endpoint nothing is recorded or exported — the sampler drops every span — but
 * spans still get ids and the trace context still travels gateway → sidecar, so log lines
 * of one request share a `trace_id` at the cost of an id and an AsyncLocalStorage frame.
 */
export function startTracing(options: TracingOptions): Tracing {
  const exporting = options.otlpEndpoint !== undefined;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    // ParentBased: a sidecar span follows the gateway's decision carried in `traceparent`.
    sampler: exporting ? new ParentBasedSampler({ root: new AlwaysOnSampler() }) : new AlwaysOffSampler(),
    spanProcessors:
      options.otlpEndpoint === undefined
        ? []
        : [
            new MaskingSpanProcessor(
              new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) })),
            ),
          ],
  });
  // Export failures (collector down) are reported through diag; surface them, once per batch.
  const log = (message: string) => options.logger.warn('opentelemetry', { detail: message });
  diag.setLogger(
    { error: log, warn: log, info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
  context.setGlobalContextManager(new AsyncLocalContextManager());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  if (options.otlpEndpoint) {
    // The host only: a collector URL may carry credentials in its user-info part.
    options.logger.info('exporting traces', { collector: new URL(options.otlpEndpoint).host });
  }
  return {
    exporting,
    shutdown: async () => {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}
