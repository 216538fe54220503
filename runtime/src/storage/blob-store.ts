/**
 * The blob port: named byte objects, written whole. Used where data must outlive the database
 * that could be tampered with (the audit chain's signed checkpoints), so adapters keep objects
 * write-once where the backend allows it.
 */
export interface BlobPutResult {
  /** True when the backend holds the object under retention (S3 object lock) until `retainUntil`. */
  locked: boolean;
}

export interface BlobStore {
  /** 'file' | 's3', for logs and test output. */
  readonly kind: string;
  /**
   * Stores `body` at `key` (`[A-Za-z0-9._-]` segments separated by `/`). With `retainUntil`,
   * asks the backend to refuse deletion and overwrites until then; backends without that
   * report `locked: false` instead of failing.
   */
  put(key: string, body: Uint8Array | string, options?: { retainUntil?: Date }): Promise<BlobPutResult>;
  /** The object's bytes, or null when there is none. */
  get(key: string): Promise<Uint8Array | null>;
  /** Keys starting with `prefix`, in byte order. */
  list(prefix: string): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const KEY = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** Rejects keys that could escape the store's folder or mean different things to different backends. */
export function assertBlobKey(key: string): void {
  if (!KEY.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..'))
    throw new TypeError(`invalid blob key ${JSON.stringify(key)}`);
}
