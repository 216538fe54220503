import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppCredentials,
  createApp,
  getToken,
  type Platform,
  startPlatform,
} from './helpers/platform.js';

/** One span as OTLP/JSON carries it, with the resource's service name attached. */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
type OtlpAttribute = { key: string; value: OtlpValue };
interface OtlpRequest {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{
      spans: Array<Omit<ExportedSpan, 'service' | 'attributes'> & { attributes?: OtlpAttribute[] }>;
    }>;
  }>;
}

const SERVER = 2; // OTLP's SpanKind enum (not the API's)
const CLIENT = 3;

const attributes = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(
    list.map(({ key, value }) => [
      key,
      value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue)),
    ]),
  );

/** A real OTLP/HTTP receiver: what the exporters post to `<endpoint>/v1/traces`. */
class OtlpReceiver {
  readonly bodies: string[] = [];
  readonly contentTypes = new Set<string>();
  private server: Server = createServer((req, res) => {
    this.receive(req).then(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      () => res.writeHead(400).end(),
    );
  });

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.server.close();
  }

  spans(): ExportedSpan[] {
    return this.bodies.flatMap((body) =>
      (JSON.parse(body) as OtlpRequest).resourceSpans.flatMap((rs) => {
        const service = String(attributes(rs.resource.attributes)['service.name']);
        return rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({
            ...s,
            service,
            attributes: attributes(s.attributes),
            links: s.links ?? [],
          })),
        );
      }),
    );
  }

  private async receive(req: IncomingMessage): Promise<void> {
    if (req.url !== '/v1/traces') throw new Error(`unexpected path ${req.url}`);
    this.contentTypes.add(String(req.headers['content-type']));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const body = req.headers['content-encoding'] === 'gzip' ? await promisify(gunzip)(raw) : raw;
    this.bodies.push(body.toString('utf8'));
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function isDescendant(spans: ExportedSpan[], span: ExportedSpan, ancestor: ExportedSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  let current: ExportedSpan | undefined = span;
  while (current?.parentSpanId) {
    if (current.parentSpanId === ancestor.spanId) return true;
    current = byId.get(current.parentSpanId);
  }
  return false;
}

const receiver = new OtlpReceiver();
let platform: Platform;
let app: AppCredentials;
let token: string;

beforeAll(async () => {
  const endpoint = await receiver.start();
  platform = await startPlatform({
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    CPOD_LOG_LEVEL: 'debug',
  });
  app = await createApp(platform, { tenant_id: 'tracing', scopes: ['people:read', 'people:write'] });
  token = await getToken(platform, app);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  receiver.stop();
});

describe('traces across gateway and sidecar', () => {
  it('one trace per REST request, sidecar spans under the gateway span, nothing personal exported, logs carry the trace id', async () => {
    const email = 'tracy.tracing@example.com';
    const phone = '+1 555 010 7788';
    const external = { traceId: 'abcdef0123456789abcdef0123456789', spanId: '0123456789abcdef' };
    const res = await fetch(`${platform.gatewayUrl}/v1/people`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        traceparent: `00-${external.traceId}-${external.spanId}-01`,
        tracestate: `vendor=${email}`,
      },
      body: JSON.stringify({ name: 'Tracy Tracing', email, phone }),
    });
    expect(res.status).toBe(201);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();

    const server = await waitFor('the gateway span of the request', () =>
      receiver
        .spans()
        .find(
          (s) =>
            s.service === 'cpod-gateway' &&
            s.kind === SERVER &&
            s.attributes['cpod.request_id'] === requestId,
        ),
    );
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server).toMatchObject({
      name: 'POST /v1/people',
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/v1/people',
        'http.response.status_code': 201,
        'cpod.tenant_id': 'tracing',
      },
    });
    // The public listener does not adopt a caller's trace id; it links to it.
    expect(server.traceId).not.toBe(external.traceId);
    expect(server.links).toEqual([expect.objectContaining(external)]);

    // The sidecar answers one Check (token, policy, rate limit) and the audit batch for this request.
    // The two processes export separately, so wait until each sidecar span's parent has arrived too.
    const { spans, sidecarSpans } = await waitFor('the sidecar spans of the request', () => {
      const trace = receiver.spans().filter((s) => s.traceId === server.traceId);
      const ids = new Set(trace.map((s) => s.spanId));
      const found = trace.filter((s) => s.service === 'cpod-sidecar');
      const complete =
        found.length >= 2 &&
        found.some((s) => s.name.endsWith('/Check')) &&
        found.every((s) => s.parentSpanId && ids.has(s.parentSpanId));
      return complete ? { spans: trace, sidecarSpans: found } : undefined;
    });
    for (const span of sidecarSpans) {
      expect(span.kind).toBe(SERVER);
      expect(isDescendant(spans, span, server)).toBe(true);
      // Its direct parent is the gateway's client span of that call.
      const parent = spans.find((s) => s.spanId === span.parentSpanId);
      expect(parent).toMatchObject({ service: 'cpod-gateway', kind: CLIENT, name: span.name });
    }
    expect(sidecarSpans.map((s) => s.attributes['rpc.method'])).toEqual(
      expect.arrayContaining(['Check', 'EmitAuditEvents']),
    );

    // Not one exported byte carries the person's email or phone, the access token or the secret.
    expect(receiver.contentTypes).toEqual(new Set(['application/json']));
    const exported = receiver.bodies.join('\n');
    for (const secret of [email, phone, '555 010 7788', token, app.client_secret]) {
      expect(exported).not.toContain(secret);
    }

    // Log lines written during the request, in both processes, carry its trace id.
    const lines = platform
      .output()
      .split('\n')
      .filter((line) => line.includes(`"trace_id":"${server.traceId}"`));
    expect(lines.some((l) => l.startsWith('[gateway]') && l.includes(`"request_id":"${requestId}"`))).toBe(
      true,
    );
    expect(lines.some((l) => l.startsWith('[sidecar]') && l.includes('"method":"Check"'))).toBe(true);
  }, 90_000);

  it('traces GraphQL requests the same way, with the operation on the span', async () => {
    const res = await fetch(`${platform.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'mutation AddPerson($input: CreatePersonInput!) { createPerson(input: $input) { id } }',
        variables: { input: { name: 'Graph Tracy', email: 'graph.tracy@example.com' } },
      }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const server = await waitFor('the gateway span of the GraphQL request', () =>
      receiver.spans().find((s) => s.kind === SERVER && s.attributes['cpod.request_id'] === requestId),
    );
    expect(server).toMatchObject({
      service: 'cpod-gateway',
      name: 'POST /graphql',
      attributes: {
        'http.route': '/graphql',
        'graphql.operation.type': 'mutation',
        'graphql.operation.name': 'AddPerson',
      },
      links: [],
    });
    await waitFor('a sidecar span in the same trace', () =>
      receiver.spans().find((s) => s.service === 'cpod-sidecar' && s.traceId === server.traceId),
    );
    expect(receiver.bodies.join('\n')).not.toContain('graph.tracy@example.com');
  }, 90_000);
});
