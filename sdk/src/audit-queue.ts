import type { AuditEvent } from '@cpod/proto';
import { status } from '@grpc/grpc-js';
import { SidecarError } from './sidecar-client.js';

/** An audit event as handed to the queue; the queue assigns the idempotency key. */
export type QueuedAuditEvent = Omit<AuditEvent, 'idempotencyKey'>;

export interface AuditQueueOptions {
  /** Sends one batch; resolves once the sidecar has recorded every event (e.g. `SidecarClient.emitAuditEvents`). */
  send: (events: AuditEvent[]) => Promise<unknown>;
  /** Events held at most; enqueue waits for room beyond that (backpressure). Default 10 000. */
  queueMax?: number;
  /** Events per batch at most. Default 100. */
  batchMax?: number;
  /**
   * How long a batch that is not full waits for more events before it is sent. Default 5 ms:
   * at moderate load one store commit then carries many requests' events instead of one each,
   * which is what keeps the sidecar's event loop free for the next request's token check.
   */
  lingerMs?: number;
  /** First retry delay; doubles up to `maxBackoffMs` (default 100 ms and 2 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Told about each failed send (it will be retried unless `dropped` is true). */
  onError?: (err: unknown, info: { events: number; dropped: boolean }) => void;
}

/**
 * Batches audit events off the request path. Each event gets a UUID idempotency key when it is
 * enqueued and keeps it through every retry, so a batch the sidecar recorded but could not
 * acknowledge (timeout, crash, restart) is not recorded twice. Failed batches are retried with
 * backoff until the sidecar takes them; nothing is dropped except a batch the sidecar rejects
 * as invalid, which no retry could fix. When `queueMax` events are waiting, `enqueue` waits for
 * room instead of dropping the event.
 *
 * @example
 * const queue = new AuditQueue({ send: (events) => sidecar.emitAuditEvents(events) });
 * await queue.enqueue({ tenantId: 'acme', action: 'people.read', outcome: 'allow', ... });
 * await queue.close(); // flush before exit
 */
export class AuditQueue {
  private readonly events: AuditEvent[] = [];
  private readonly roomWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly queueMax: number;
  private readonly batchMax: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private sending = false;
  private closed = false;
  /** Set when close() gave up: the retry loop ends so the process can exit. */
  private stopped = false;
  private wakeRetry: (() => void) | undefined;
  private wakeLinger: (() => void) | undefined;
  private readonly lingerMs: number;
  /** Events recorded by the sidecar / dropped as invalid since start. */
  sent = 0;
  dropped = 0;

  constructor(private readonly options: AuditQueueOptions) {
    this.queueMax = options.queueMax ?? 10_000;
    this.batchMax = Math.min(options.batchMax ?? 100, 500);
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
    this.lingerMs = options.lingerMs ?? 5;
  }

  /** Events waiting or in flight. */
  get depth(): number {
    return this.events.length;
  }

  /** Queues one event; waits only while the queue is full. Rejects after close(). */
  async enqueue(event: QueuedAuditEvent): Promise<void> {
    while (this.events.length >= this.queueMax && !this.closed) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (this.closed) throw new Error('audit queue is closed');
    this.events.push({ ...event, idempotencyKey: crypto.randomUUID() });
    if (this.events.length >= this.batchMax) this.wakeLinger?.();
    void this.drain();
  }

  /** Resolves when every event queued so far has been recorded (or `timeoutMs` passed: false). */
  flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.events.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.wakeRetry?.(); // someone is waiting: retry now rather than after the backoff
      this.wakeLinger?.();
    });
  }

  /** Stops accepting events and flushes what is queued; false when some could not be sent in time. */
  async close(timeoutMs = 10_000): Promise<boolean> {
    this.closed = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
    const flushed = await this.flush(timeoutMs);
    if (!flushed) {
      this.stopped = true;
      this.wakeRetry?.();
    }
    return flushed;
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let backoff = this.initialBackoffMs;
    try {
      while (this.events.length > 0 && !this.stopped) {
        await this.linger();
        const batch = this.events.slice(0, this.batchMax);
        try {
          await this.options.send(batch);
          this.sent += batch.length;
          this.release(batch.length);
          backoff = this.initialBackoffMs;
        } catch (err) {
          const invalid = err instanceof SidecarError && err.grpcCode === status.INVALID_ARGUMENT;
          this.options.onError?.(err, { events: batch.length, dropped: invalid });
          if (invalid) {
            this.dropped += batch.length;
            this.release(batch.length);
            continue;
          }
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, this.maxBackoffMs);
        }
      }
    } finally {
      this.sending = false;
    }
    for (const done of this.idleWaiters.splice(0)) done();
  }

  /** Waits up to lingerMs for a batch to fill, unless it is full or someone waits for a flush. */
  private async linger(): Promise<void> {
    if (this.lingerMs <= 0 || this.events.length >= this.batchMax || this.idleWaiters.length > 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.wakeLinger?.(), this.lingerMs);
      this.wakeLinger = () => {
        clearTimeout(timer);
        this.wakeLinger = undefined;
        resolve();
      };
    });
  }

  private release(count: number): void {
    this.events.splice(0, count);
    for (const wake of this.roomWaiters.splice(0, count)) wake();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakeRetry = undefined;
        resolve();
      };
      // Jitter, so gateways that lost one sidecar do not retry in lockstep.
      const timer = setTimeout(wake, ms / 2 + Math.random() * (ms / 2));
      this.wakeRetry = wake;
    });
  }
}
