import { AsyncLocalContextManager } from '@cpod/runtime';
import {
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingInterceptor } from './tracing-interceptor.js';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()),
};
const definition: ServiceDefinition = {
  Echo: {
    path: '/test.v1.EchoService/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const server = new Server();
/** The `traceparent` each call arrived with, as the server saw it. */
const received: unknown[] = [];
type EchoClient = {
  Echo(request: object, callback: (error: ServiceError | null) => void): void;
  close(): void;
};
let client: EchoClient;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalContextManager());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  server.addService(definition, {
    Echo: (call: ServerUnaryCall<{ fail?: boolean }, object>, callback: sendUnaryData<object>) => {
      received.push(call.metadata.get('traceparent')[0]);
      if (call.request.fail) callback({ code: status.PERMISSION_DENIED, details: 'no' });
      else callback(null, call.request);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const Client = makeGenericClientConstructor(definition, 'EchoService');
  client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: [tracingInterceptor()],
  }) as unknown as EchoClient;
});

afterAll(async () => {
  client?.close();
  server.forceShutdown();
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

const echo = (request: object) =>
  new Promise<{ error: ServiceError | null }>((resolve) =>
    client.Echo(request, (error) => resolve({ error })),
  );

describe('tracingInterceptor', () => {
  it('sends the trace context and records a client span under the caller span', async () => {
    exporter.reset();
    received.length = 0;
    const parent = trace.getTracer('test').startSpan('request');
    const { error } = await context.with(trace.setSpan(context.active(), parent), () => echo({ hi: 1 }));
    parent.end();
    expect(error).toBeNull();
    const span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT);
    expect(span).toMatchObject({
      name: 'test.v1.EchoService/Echo',
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': 'test.v1.EchoService',
        'rpc.method': 'Echo',
        'rpc.grpc.status_code': status.OK,
      },
    });
    expect(span?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    const { traceId, spanId } = span?.spanContext() ?? {};
    expect(traceId).toBe(parent.spanContext().traceId);
    expect(received).toEqual([`00-${traceId}-${spanId}-01`]);
  });

  it('marks a failed call as an error with its status code', async () => {
    exporter.reset();
    const { error } = await echo({ fail: true });
    expect(error?.code).toBe(status.PERMISSION_DENIED);
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes['rpc.grpc.status_code']).toBe(status.PERMISSION_DENIED);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no' });
    // Without an active span the call starts its own trace rather than sending none.
    expect(span?.parentSpanContext).toBeUndefined();
  });
});
