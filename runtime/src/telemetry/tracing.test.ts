import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { startTracing, tracesUrl } from './tracing.js';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return (req.headers['content-encoding'] === 'gzip' ? await promisify(gunzip)(body) : body).toString();
}

describe('startTracing', () => {
  it('names the traces URL after the OTLP/HTTP convention', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
  });

  it('without an endpoint records nothing but still gives spans ids and propagates them', async () => {
    const tracing = startTracing({ serviceName: 'test', otlpEndpoint: undefined, logger: createLogger() });
    try {
      expect(tracing.exporting).toBe(false);
      const span = trace.getTracer('test').startSpan('work');
      expect(span.isRecording()).toBe(false);
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
      expect(carrier.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-00`);
    } finally {
      await tracing.shutdown();
    }
  });

  it('exports masked spans as OTLP/JSON to <endpoint>/v1/traces and flushes on shutdown', async () => {
    const received: Array<{ path: string | undefined; type: string | undefined; body: string }> = [];
    const server = createServer(async (req, res) => {
      received.push({ path: req.url, type: req.headers['content-type'], body: await readBody(req) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const tracing = startTracing({
      serviceName: 'cpod-test',
      otlpEndpoint: `http://127.0.0.1:${port}`,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const tracer = trace.getTracer('test');
      const parent = tracer.startSpan('request for alice@example.com');
      const child = tracer.startSpan('child', {}, trace.setSpan(context.active(), parent));
      child.setAttribute('phone', '+1 555 123 4567');
      child.end();
      parent.end();
      await tracing.shutdown();
      expect(received.map((r) => [r.path, r.type])).toEqual([['/v1/traces', 'application/json']]);
      const body = received[0]?.body ?? '';
      expect(body).not.toContain('alice@example.com');
      expect(body).not.toContain('555 123 4567');
      const spans = JSON.parse(body).resourceSpans[0].scopeSpans[0].spans as Array<Record<string, string>>;
      const byName = new Map(spans.map((s) => [s.name, s]));
      expect(byName.get('child')?.parentSpanId).toBe(byName.get('request for [email]')?.spanId);
      expect(body).toContain('cpod-test');
    } finally {
      server.close();
    }
  });
});
