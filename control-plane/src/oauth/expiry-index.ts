import { type DocumentStore, newId } from '@cpod/runtime';
import { PLATFORM_NAMESPACE } from '../apps/app-repository.js';

/** Collections whose records end; each is swept once its expiry has passed. */
export type ExpiringCollection =
  | 'authorization_codes'
  | 'authorization_code_uses'
  | 'refresh_tokens'
  | 'refresh_token_uses'
  | 'refresh_families'
  | 'revocations'
  | 'revocation_feed';

/**
 * One pending deletion. Its id is a time-sortable id made from the *expiry* time, so listing
 * the index in id order lists deletions in the order they fall due — the document port only
 * filters on equality, and this turns "everything expired before now" into a cursor scan.
 */
interface ExpiryEntry {
  id: string;
  collection: ExpiringCollection;
  tenant: string;
  doc_id: string;
  [field: string]: unknown;
}

const PREFIX = 'exp';
/** `exp_` + the 10 time characters of a runtime id. */
const TIME_END = PREFIX.length + 1 + 10;
const PAGE = 200;

export interface ExpiryIndex {
  /** Records that `collection/tenant/id` may be deleted from `expiresAtMs` on. */
  schedule(collection: ExpiringCollection, tenant: string, id: string, expiresAtMs: number): Promise<void>;
  /** Deletes every record due by `nowMs`; returns how many were deleted. */
  sweep(nowMs: number): Promise<number>;
}

export function expiryIndex(store: DocumentStore): ExpiryIndex {
  const index = store.collection<ExpiryEntry>('expiring_records');
  return {
    async schedule(collection, tenant, id, expiresAtMs) {
      await index.insert(PLATFORM_NAMESPACE, {
        id: newId(PREFIX, Math.max(0, Math.floor(expiresAtMs))),
        collection,
        tenant,
        doc_id: id,
      });
    },
    async sweep(nowMs) {
      const due = newId(PREFIX, nowMs).slice(0, TIME_END);
      let deleted = 0;
      for (;;) {
        const page = await index.list(PLATFORM_NAMESPACE, { limit: PAGE });
        for (const entry of page) {
          if (entry.id.slice(0, TIME_END) > due) return deleted;
          // Deleting a record that is already gone is fine: the entry is what must not linger.
          await store.collection(entry.collection).delete(entry.tenant, entry.doc_id);
          await index.delete(PLATFORM_NAMESPACE, entry.id);
          deleted += 1;
        }
        if (page.length < PAGE) return deleted;
      }
    },
  };
}

/**
 * Sweeps expired OAuth records every `intervalMs` until stopped. A failed sweep is logged and
 * retried at the next tick: leftovers are refused on read anyway (every record carries its
 * expiry), so sweeping is about storage, never about correctness.
 */
export function startExpirySweeper(options: {
  index: ExpiryIndex;
  clock: () => number;
  intervalMs: number;
  onError: (err: unknown) => void;
}): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => options.index.sweep(options.clock()).catch(options.onError));
  }, options.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
