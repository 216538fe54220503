import { type AuditEvent, type AuditServiceServer, AuditServiceService } from '@cpod/proto';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditQueue, type QueuedAuditEvent } from './audit-queue.js';
import { SidecarClient } from './sidecar-client.js';

/**
 * The queue against a real gRPC AuditService on loopback whose answers the test scripts:
 * recorded-but-unacknowledged batches, an unreachable sidecar, a slow one, an invalid batch.
 */
type Answer = 'ok' | 'unavailable-after-recording' | 'invalid' | Promise<void>;

async function scriptedSidecar(script: (call: number) => Answer) {
  const recorded: AuditEvent[] = [];
  const calls: AuditEvent[][] = [];
  const unused = () => {
    throw new Error('not scripted');
  };
  const service: AuditServiceServer = {
    emitAuditEvent: unused,
    queryAudit: unused,
    verifyChain: unused,
    emitAuditEvents: (call, callback) => {
      const events = call.request.events;
      const answer = script(calls.length);
      calls.push(events);
      const reply = async () => {
        if (answer instanceof Promise) await answer;
        if (answer === 'invalid') return callback({ code: status.INVALID_ARGUMENT, details: 'bad' }, null);
        for (const e of events)
          if (!recorded.some((r) => r.idempotencyKey === e.idempotencyKey)) recorded.push(e);
        if (answer === 'unavailable-after-recording')
          return callback({ code: status.UNAVAILABLE, details: 'crashed before answering' }, null);
        callback(null, { records: [] });
      };
      void reply();
    },
  };
  const server = new Server();
  server.addService(AuditServiceService, service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = new SidecarClient({ address: `127.0.0.1:${port}`, timeoutMs: 2000 });
  cleanups.push(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });
  return { client, recorded, calls };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const event = (i: number): QueuedAuditEvent => ({
  tenantId: 'acme',
  actor: 'app',
  clientId: 'app',
  action: 'people.read',
  resource: 'people',
  outcome: 'allow',
  status: 200,
  requestId: `req-${i}`,
  metadata: {},
  occurredAt: new Date().toISOString(),
});

describe('AuditQueue', () => {
  it('sends in batches of at most batchMax and retries with the same keys until acknowledged', async () => {
    const sidecar = await scriptedSidecar((call) => (call < 2 ? 'unavailable-after-recording' : 'ok'));
    const queue = new AuditQueue({
      send: (events) => sidecar.client.emitAuditEvents(events),
      batchMax: 4,
      initialBackoffMs: 10,
    });
    for (let i = 0; i < 10; i++) await queue.enqueue(event(i));
    expect(await queue.close()).toBe(true);
    expect(sidecar.calls.every((batch) => batch.length <= 4)).toBe(true);
    // The unacknowledged events were sent again with their keys (the retry may carry more
    // events, queued meanwhile); the server kept one copy of each.
    const keys = (call: number) => sidecar.calls[call]!.map((e) => e.idempotencyKey);
    expect(keys(1).slice(0, keys(0).length)).toEqual(keys(0));
    expect(keys(2).slice(0, keys(1).length)).toEqual(keys(1));
    expect(sidecar.recorded.map((e) => e.requestId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `req-${i}`),
    );
    expect(new Set(sidecar.recorded.map((e) => e.idempotencyKey)).size).toBe(10);
    expect(queue.sent).toBe(10);
  });

  it('lingers: events of requests a few ms apart share one batch instead of one send each', async () => {
    const sidecar = await scriptedSidecar(() => 'ok');
    const queue = new AuditQueue({ send: (events) => sidecar.client.emitAuditEvents(events), lingerMs: 50 });
    for (let i = 0; i < 5; i++) {
      await queue.enqueue(event(i));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await queue.flush()).toBe(true);
    expect(sidecar.calls.map((batch) => batch.length)).toEqual([5]);
    // Without lingering, the first event goes out alone the moment it is queued.
    const eager = new AuditQueue({ send: (events) => sidecar.client.emitAuditEvents(events), lingerMs: 0 });
    for (let i = 5; i < 10; i++) {
      await eager.enqueue(event(i));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await eager.close()).toBe(true);
    expect(sidecar.calls[1]).toHaveLength(1);
    await queue.close();
  });

  it('keeps events while the sidecar is unreachable and delivers them when it answers', async () => {
    let up = false;
    const sidecar = await scriptedSidecar(() => 'ok');
    const queue = new AuditQueue({
      send: (events) => (up ? sidecar.client.emitAuditEvents(events) : Promise.reject(new Error('down'))),
      initialBackoffMs: 10,
      maxBackoffMs: 20,
    });
    for (let i = 0; i < 3; i++) await queue.enqueue(event(i));
    await new Promise((r) => setTimeout(r, 100));
    expect(queue.depth).toBe(3);
    up = true;
    expect(await queue.flush(5000)).toBe(true);
    expect(sidecar.recorded).toHaveLength(3);
  });

  it('applies backpressure: with queueMax events waiting, enqueue waits for room', async () => {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sidecar = await scriptedSidecar((call) => (call === 0 ? slow : 'ok'));
    const queue = new AuditQueue({ send: (events) => sidecar.client.emitAuditEvents(events), queueMax: 3 });
    for (let i = 0; i < 3; i++) await queue.enqueue(event(i));
    let admitted = false;
    const fourth = queue.enqueue(event(3)).then(() => {
      admitted = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(admitted).toBe(false);
    expect(queue.depth).toBe(3);
    release();
    await fourth;
    expect(await queue.close()).toBe(true);
    expect(sidecar.recorded.map((e) => e.requestId)).toEqual(['req-0', 'req-1', 'req-2', 'req-3']);
  });

  it('drops only a batch the sidecar rejects as invalid, and says so', async () => {
    const sidecar = await scriptedSidecar((call) => (call === 0 ? 'invalid' : 'ok'));
    const errors: boolean[] = [];
    const queue = new AuditQueue({
      send: (events) => sidecar.client.emitAuditEvents(events),
      onError: (_err, { dropped }) => errors.push(dropped),
    });
    await queue.enqueue(event(0));
    await queue.flush();
    await queue.enqueue(event(1));
    expect(await queue.close()).toBe(true);
    expect(errors).toEqual([true]);
    expect(queue.dropped).toBe(1);
    expect(sidecar.recorded.map((e) => e.requestId)).toEqual(['req-1']);
  });

  it('close gives up after its timeout when the sidecar never answers, and refuses new events', async () => {
    const queue = new AuditQueue({ send: () => Promise.reject(new Error('down')), initialBackoffMs: 10 });
    await queue.enqueue(event(0));
    expect(await queue.close(200)).toBe(false);
    expect(queue.depth).toBe(1);
    await expect(queue.enqueue(event(1))).rejects.toThrow(/closed/);
  });
});
