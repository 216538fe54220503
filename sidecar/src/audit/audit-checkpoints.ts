import type { KeyObject } from 'node:crypto';
import { type Logger, openBlobStore, type PlatformConfig } from '@cpod/runtime';
import { Gauge, registry } from '../metrics.js';
import type { AuditChain } from './audit-chain.js';
import { blobCheckpointSink, type CheckpointSink, fileCheckpointSink } from './checkpoint-sink.js';
import { Checkpointer } from './checkpointer.js';
import { loadOrCreateSigningKey, publicKeyPathFor } from './signing-key.js';

export interface AuditCheckpoints {
  sink: CheckpointSink;
  publicKey: KeyObject;
  checkpointer: Checkpointer;
  /** Signs the newest heads one last time and stops the timer. */
  close(): Promise<void>;
}

/** The sink named by CORESDK_AUDIT_CHECKPOINT_SINK; shared by the sidecar and the audit:verify CLI. */
export async function openCheckpointSink(config: PlatformConfig): Promise<CheckpointSink> {
  const audit = config.sidecar.audit;
  if (audit.checkpointSink === 'file') return fileCheckpointSink(audit.checkpointFile);
  const s3 = config.stores('sidecar').s3;
  if (!s3)
    throw new Error(
      'CORESDK_AUDIT_CHECKPOINT_SINK=s3 needs CPOD_S3_ENDPOINT (and the CPOD_S3_* credentials)',
    );
  return blobCheckpointSink(
    await openBlobStore({ s3, dataDir: config.stores('sidecar').dataDir }),
    audit.checkpointRetentionDays,
  );
}

/** Loads (or creates) the signing key, opens the sink and starts signing chain heads periodically. */
export async function startAuditCheckpoints(
  config: PlatformConfig,
  chain: AuditChain,
  logger: Logger,
): Promise<AuditCheckpoints> {
  const audit = config.sidecar.audit;
  const key = loadOrCreateSigningKey(audit.signingKeyPath);
  const sink = await openCheckpointSink(config);
  const checkpointer = new Checkpointer({ chain, sink, key, intervalMs: audit.checkpointIntervalMs, logger });
  checkpointer.start();
  registry.add(
    new Gauge(
      'cpod_sidecar_audit_checkpoints_total',
      'Signed audit checkpoints written to the sink.',
      () => checkpointer.written,
      'counter',
    ),
  );
  registry.add(
    new Gauge(
      'cpod_sidecar_audit_checkpoint_failures_total',
      'Checkpoint writes that failed (retried next round).',
      () => checkpointer.failures,
      'counter',
    ),
  );
  registry.add(
    new Gauge(
      'cpod_sidecar_audit_chain_tampered_total',
      'Checkpoint rounds that found a tenant chain no longer extending its last signed checkpoint.',
      () => checkpointer.tampered,
      'counter',
    ),
  );
  logger.info('audit checkpoints', {
    sink: sink.kind,
    interval_ms: audit.checkpointIntervalMs,
    public_key: publicKeyPathFor(audit.signingKeyPath),
    key_id: key.keyId,
  });
  return { sink, publicKey: key.publicKey, checkpointer, close: () => checkpointer.close() };
}
