import { context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { startTracing } from './telemetry/tracing.js';

describe('logger', () => {
  it('never writes secrets, tokens or credentials', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (line) => lines.push(line) });
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ';
    logger.info(`request with ${jwt}`, {
      client_secret: 'cps_supersecret',
      headers: { authorization: 'Bearer abc.def', accept: 'json' },
      nested: { note: `token was Bearer ${jwt}`, password: 'hunter2' },
      err: new Error(`bad token ${jwt}`),
    });
    const out = lines.join('\n');
    for (const secret of [jwt, 'cps_supersecret', 'abc.def', 'hunter2']) expect(out).not.toContain(secret);
    expect(JSON.parse(lines[0] ?? '{}').headers.accept).toBe('json');
  });

  it('honours the level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
  });
});

describe('logger inside a span', () => {
  it('carries the active trace and span id, and none outside a span', async () => {
    const tracing = startTracing({ serviceName: 'test', otlpEndpoint: undefined, logger: createLogger() });
    try {
      const lines: string[] = [];
      const logger = createLogger({ write: (line) => lines.push(line) });
      const span = trace.getTracer('test').startSpan('work');
      await context.with(trace.setSpan(context.active(), span), async () => {
        await new Promise((r) => setTimeout(r, 1));
        logger.info('inside');
      });
      logger.info('outside');
      const [inside, outside] = lines.map((l) => JSON.parse(l));
      expect(inside).toMatchObject({
        trace_id: span.spanContext().traceId,
        span_id: span.spanContext().spanId,
      });
      expect(inside.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(outside).not.toHaveProperty('trace_id');
    } finally {
      await tracing.shutdown();
    }
  });
});
