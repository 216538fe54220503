import { type ChainVerification, GENESIS_HASH, hashRecord, type StoredAuditRecord } from './audit-record.js';

/** A chain head someone vouched for: a checkpoint whose signature has already been checked. */
export interface TrustedHead {
  seq: number;
  hash: string;
}

/**
 * Walks a tenant's records oldest first and checks every link: sequence continuity (no gap,
 * no reorder), previous_hash (no fork) and record_hash (no edit). That alone cannot catch an
 * attacker who rewrites the store and recomputes every hash after the edit, so each trusted
 * head must also match the record at its sequence number, and the chain may not end before
 * the newest one (a deleted tail).
 *
 * Used by the sidecar's VerifyChain (records from the store) and by the audit:verify CLI
 * (records over gRPC), so both judge a chain the same way.
 */
export async function verifyRecords(
  records: AsyncIterable<StoredAuditRecord>,
  trusted: TrustedHead[] = [],
): Promise<ChainVerification> {
  const heads = new Map<number, string[]>();
  for (const head of trusted) heads.set(head.seq, [...(heads.get(head.seq) ?? []), head.hash]);
  let expectedSeq = 1;
  let previousHash = GENESIS_HASH;
  let checkpointsChecked = 0;
  const broken = (problem: string): ChainVerification => ({
    valid: false,
    recordsChecked: expectedSeq - 1,
    firstBrokenSeq: expectedSeq,
    problem,
    headHash: previousHash,
    checkpointsChecked,
  });

  for await (const record of records) {
    if (record.seq !== expectedSeq)
      return broken(`expected sequence ${expectedSeq}, found ${record.seq} (a record is missing or moved)`);
    if (record.previous_hash !== previousHash)
      return broken('previous_hash does not match the record before it');
    if (record.record_hash !== hashRecord(record))
      return broken('record_hash does not match the record contents');
    for (const hash of heads.get(record.seq) ?? []) {
      if (hash !== record.record_hash) {
        return broken(
          `record_hash differs from the signed checkpoint at sequence ${record.seq}: the chain was rewritten at or before it`,
        );
      }
      checkpointsChecked++;
    }
    previousHash = record.record_hash;
    expectedSeq++;
  }

  const newest = Math.max(0, ...heads.keys());
  if (newest >= expectedSeq) {
    return broken(
      `the chain ends at sequence ${expectedSeq - 1} but a signed checkpoint vouches for ${newest}`,
    );
  }
  return {
    valid: true,
    recordsChecked: expectedSeq - 1,
    firstBrokenSeq: 0,
    problem: '',
    headHash: previousHash,
    checkpointsChecked,
  };
}
