import { ApiError, AsyncLocalContextManager, createLogger } from '@cpod/runtime';
import {
  credentials,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unary } from './unary.js';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()),
};
const definition: ServiceDefinition = {
  Check: {
    path: '/test.v1.CheckService/Check',
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
const lines: Array<Record<string, unknown>> = [];
const logger = createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line)) });
const server = new Server();
let call: (request: { outcome: string }, metadata?: Metadata) => Promise<ServiceError | null>;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalContextManager());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  server.addService(definition, {
    Check: unary(logger, 'Check', async (request: { outcome: string }) => {
      await new Promise((r) => setTimeout(r, 1));
      logger.info('handling', { outcome: request.outcome });
      if (request.outcome === 'denied') throw new ApiError('ERR_POLICY_DENIED', 'denied by policy');
      if (request.outcome === 'crash') throw new Error('database exploded');
      return { ok: true };
    }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const Client = makeGenericClientConstructor(definition, 'CheckService');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as {
    Check(r: unknown, m: Metadata, cb: (e: ServiceError | null) => void): void;
  };
  call = (request, metadata = new Metadata()) =>
    new Promise((resolve) => client.Check(request, metadata, (error) => resolve(error)));
});

beforeEach(() => {
  exporter.reset();
  lines.length = 0;
});

afterAll(async () => {
  server.forceShutdown();
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';

describe('unary', () => {
  it('continues the caller trace from metadata; handler log lines carry its trace id', async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', `00-${TRACE_ID}-${PARENT_ID}-01`);
    expect(await call({ outcome: 'ok' }, metadata)).toBeNull();
    const [span] = exporter.getFinishedSpans();
    expect(span).toMatchObject({
      name: 'test.v1.CheckService/Check',
      kind: SpanKind.SERVER,
      attributes: { 'rpc.method': 'Check', 'rpc.grpc.status_code': status.OK, 'cpod.outcome': 'ok' },
    });
    expect(span?.spanContext().traceId).toBe(TRACE_ID);
    expect(span?.parentSpanContext?.spanId).toBe(PARENT_ID);
    const handling = lines.find((l) => l.msg === 'handling');
    expect(handling).toMatchObject({ trace_id: TRACE_ID, span_id: span?.spanContext().spanId });
    expect(lines.find((l) => l.msg === 'rpc')).toMatchObject({ trace_id: TRACE_ID, method: 'Check' });
  });

  it('records a denial as an answer and an unexpected failure as an error', async () => {
    expect((await call({ outcome: 'denied' }))?.code).toBe(status.PERMISSION_DENIED);
    expect((await call({ outcome: 'crash' }))?.code).toBe(status.INTERNAL);
    const [denied, crashed] = exporter.getFinishedSpans();
    expect(denied?.attributes).toMatchObject({ 'rpc.grpc.status_code': status.PERMISSION_DENIED });
    expect(denied?.status.code).toBe(SpanStatusCode.UNSET);
    expect(crashed?.attributes).toMatchObject({ 'rpc.grpc.status_code': status.INTERNAL });
    expect(crashed?.status.code).toBe(SpanStatusCode.ERROR);
    // Without a caller context each call is a trace of its own.
    expect(denied?.parentSpanContext).toBeUndefined();
    expect(denied?.spanContext().traceId).not.toBe(crashed?.spanContext().traceId);
  });
});
