import { createTraceState, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { MaskingSpanProcessor } from './masking-span-processor.js';

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtaGVyZQ';

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new MaskingSpanProcessor(new SimpleSpanProcessor(exporter))],
  });
  return { exporter, provider, tracer: provider.getTracer('test') };
}

let provider: BasicTracerProvider | undefined;
afterEach(async () => {
  await provider?.shutdown();
});

describe('MaskingSpanProcessor', () => {
  it('masks personal data and credentials in names, attributes, events, status and links', async () => {
    const s = setup();
    provider = s.provider;
    const linked = s.tracer.startSpan('upstream');
    linked.end();
    const upstream = {
      ...linked.spanContext(),
      traceState: createTraceState('vendor=frank@example.com,other=ok'),
    };
    const span = s.tracer.startSpan('lookup alice@example.com', {
      kind: SpanKind.SERVER,
      attributes: { 'http.route': '/v1/people', 'cpod.note': 'phone +1 555 123 4567' },
      links: [{ context: upstream, attributes: { why: `Bearer ${JWT}` } }],
    });
    span.setAttribute('http.response.status_code', 201);
    span.setAttribute('enduser.id', 'bob@example.org');
    span.addEvent('retry for carol@example.net', { header: `Bearer ${JWT}`, attempt: 2 });
    span.recordException(new Error(`token ${JWT} rejected for dave@example.com`));
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed for erin@example.com' });
    span.end();

    const exported = s.exporter.getFinishedSpans().find((x) => x.name.startsWith('lookup'));
    expect(exported).toBeDefined();
    const text = JSON.stringify({
      name: exported?.name,
      attributes: exported?.attributes,
      events: exported?.events,
      status: exported?.status,
      links: exported?.links.map((l) => [l.attributes, l.context.traceState?.serialize()]),
    });
    for (const secret of ['@example', JWT, '555 123 4567']) expect(text).not.toContain(secret);
    expect(exported?.name).toBe('lookup [email]');
    expect(exported?.attributes).toMatchObject({
      'http.route': '/v1/people',
      'http.response.status_code': 201,
      'cpod.note': 'phone [phone]',
      'enduser.id': '[email]',
    });
    expect(exported?.events[0]).toMatchObject({
      name: 'retry for [email]',
      attributes: { header: 'Bearer [redacted]', attempt: 2 },
    });
    expect(exported?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'failed for [email]' });
    expect(exported?.links[0]?.context.traceState?.serialize()).toBe('vendor=[email],other=ok');
    expect(exported?.links[0]?.context.spanId).toBe(linked.spanContext().spanId);
    // What makes it a trace is untouched.
    expect(exported?.spanContext()).toEqual(span.spanContext());
    expect(exported?.kind).toBe(SpanKind.SERVER);
  });

  it('leaves spans without personal data as they were', () => {
    const s = setup();
    provider = s.provider;
    s.tracer
      .startSpan('coresdk.v1.AuthService/ValidateToken', {
        attributes: { 'rpc.system': 'grpc', 'rpc.grpc.status_code': 0, 'cpod.request_id': 'a1b2-c3' },
      })
      .end();
    const [exported] = s.exporter.getFinishedSpans();
    expect(exported?.name).toBe('coresdk.v1.AuthService/ValidateToken');
    expect(exported?.attributes).toEqual({
      'rpc.system': 'grpc',
      'rpc.grpc.status_code': 0,
      'cpod.request_id': 'a1b2-c3',
    });
  });
});
