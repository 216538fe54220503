import type { Logger } from '@cpod/runtime';
import type { AuditChain } from './audit-chain.js';
import { hashRecord, seqId } from './audit-record.js';
import { signCheckpoint } from './checkpoint.js';
import type { CheckpointSink } from './checkpoint-sink.js';
import type { CheckpointSigningKey } from './signing-key.js';

/**
 * Every `intervalMs`, signs the head of each tenant chain this sidecar appended to since the
 * last round and writes it to the sink. A head that could not be written is tried again next
 * round; close() runs one last round so a clean shutdown leaves the newest heads signed.
 *
 * Before signing a new head it checks the records since its previous checkpoint of that
 * tenant: a chain that was rewritten underneath is reported and never vouched for.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Tenants whose head moved but is not in the sink yet. */
  private readonly pending = new Set<string>();
  /** The head this process last signed, per tenant. */
  private readonly signed = new Map<string, { seq: number; hash: string }>();
  written = 0;
  failures = 0;
  /** Rounds that found a chain no longer extending its last checkpoint. */
  tampered = 0;

  constructor(
    private readonly options: {
      chain: AuditChain;
      sink: CheckpointSink;
      key: CheckpointSigningKey;
      intervalMs: number;
      logger: Logger;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One round now; waits for a round already running instead of starting a second. */
  round(): Promise<void> {
    this.running ??= this.checkpointMovedHeads().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.round();
  }

  private async checkpointMovedHeads(): Promise<void> {
    const { chain, sink, key, logger } = this.options;
    for (const tenant of chain.takeTouchedTenants()) this.pending.add(tenant);
    for (const tenant of [...this.pending]) {
      try {
        const head = await chain.head(tenant);
        const previous = this.signed.get(tenant);
        if (head.seq > (previous?.seq ?? 0)) {
          const problem = previous ? await this.breakSince(tenant, previous, head.seq) : '';
          if (problem) {
            this.tampered++;
            logger.error('audit chain no longer extends its last signed checkpoint; not signing it', {
              tenant,
              checkpoint_seq: previous?.seq,
              problem,
            });
            continue; // stays pending: reported again every round until someone looks
          }
          await sink.write(signCheckpoint(key, { tenant, ...head }));
          this.signed.set(tenant, head);
          this.written++;
        }
        this.pending.delete(tenant);
      } catch (err) {
        this.failures++;
        logger.error('audit checkpoint could not be written; retrying next round', { err, tenant });
      }
    }
  }

  /** Why the records from `from.seq` to `toSeq` do not extend the signed head `from`, or ''. */
  private async breakSince(
    tenant: string,
    from: { seq: number; hash: string },
    toSeq: number,
  ): Promise<string> {
    let expected = from.seq;
    let previousHash = '';
    for await (const record of this.options.chain.all(tenant, seqId(from.seq - 1))) {
      if (record.seq !== expected) return `expected sequence ${expected}, found ${record.seq}`;
      if (expected === from.seq ? record.record_hash !== from.hash : record.previous_hash !== previousHash)
        return `sequence ${expected} does not match`;
      if (record.record_hash !== hashRecord(record)) return `record_hash of sequence ${expected} is wrong`;
      previousHash = record.record_hash;
      if (expected === toSeq) return '';
      expected++;
    }
    return `the chain ends before sequence ${toSeq}`;
  }
}
