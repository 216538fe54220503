import { type KeyObject, sign, verify } from 'node:crypto';
import type { ChainVerification, StoredAuditRecord } from './audit-record.js';
import { canonicalJson } from './canonical-json.js';
import { type TrustedHead, verifyRecords } from './chain-verifier.js';
import { type CheckpointSigningKey, keyIdOf } from './signing-key.js';

/** A signed statement "the head of tenant's chain was record seq, with this hash, at signed_at". */
export interface Checkpoint {
  tenant: string;
  seq: number;
  hash: string;
  signed_at: string;
  key_id: string;
  /** Ed25519 over the canonical JSON of the other fields, base64url. */
  signature: string;
}

const signedBytes = (c: Omit<Checkpoint, 'signature'>) =>
  Buffer.from(
    canonicalJson({ tenant: c.tenant, seq: c.seq, hash: c.hash, signed_at: c.signed_at, key_id: c.key_id }),
  );

export function signCheckpoint(
  key: CheckpointSigningKey,
  head: { tenant: string; seq: number; hash: string },
  now = new Date(),
): Checkpoint {
  const unsigned = { ...head, signed_at: now.toISOString(), key_id: key.keyId };
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key.privateKey).toString('base64url') };
}

/** Why `raw` is not a checkpoint of `tenant` signed by `publicKey`, or '' when it is. */
export function checkpointProblem(raw: unknown, tenant: string, publicKey: KeyObject): string {
  const c = raw as Partial<Checkpoint> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    typeof c.tenant !== 'string' ||
    !Number.isSafeInteger(c.seq) ||
    typeof c.hash !== 'string' ||
    typeof c.signed_at !== 'string' ||
    typeof c.key_id !== 'string' ||
    typeof c.signature !== 'string'
  ) {
    return 'a checkpoint entry is malformed';
  }
  if (c.tenant !== tenant) return `a checkpoint for tenant ${c.tenant} is filed under ${tenant}`;
  if (c.key_id !== keyIdOf(publicKey))
    return `checkpoint at sequence ${c.seq} is signed by unknown key ${c.key_id}`;
  const ok = verify(null, signedBytes(c as Checkpoint), publicKey, Buffer.from(c.signature, 'base64url'));
  return ok ? '' : `checkpoint at sequence ${c.seq} has an invalid signature`;
}

/**
 * The full check of one tenant: every checkpoint's signature first (a forged or edited
 * checkpoint is tampering in itself), then every link of the chain against the genuine ones.
 */
export async function verifyChainWithCheckpoints(
  tenant: string,
  records: AsyncIterable<StoredAuditRecord>,
  rawCheckpoints: unknown[],
  publicKey: KeyObject,
): Promise<ChainVerification> {
  const trusted: TrustedHead[] = [];
  for (const raw of rawCheckpoints) {
    const problem = checkpointProblem(raw, tenant, publicKey);
    if (problem) {
      const seq = Number((raw as Partial<Checkpoint> | null)?.seq);
      return {
        valid: false,
        recordsChecked: 0,
        firstBrokenSeq: Number.isSafeInteger(seq) && seq > 0 ? seq : 1,
        problem,
        headHash: '',
        checkpointsChecked: 0,
      };
    }
    const { seq, hash } = raw as Checkpoint;
    trusted.push({ seq, hash });
  }
  return verifyRecords(records, trusted);
}
