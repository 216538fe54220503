import { join } from 'node:path';
import type { S3Config } from '../config/config.js';
import { openLocalBlobs } from './blob-local.js';
import { openS3Blobs } from './blob-s3.js';
import type { BlobStore } from './blob-store.js';

export interface BlobStoreOptions {
  /** Set when CPOD_S3_ENDPOINT is. */
  s3?: S3Config | undefined;
  /** The process's data folder; local blobs live in `<dataDir>/blobs`. */
  dataDir: string;
}

/** S3/MinIO when configured, else local files. */
export function openBlobStore(options: BlobStoreOptions): Promise<BlobStore> {
  if (options.s3) return openS3Blobs(options.s3);
  return Promise.resolve(openLocalBlobs({ dir: join(options.dataDir, 'blobs') }));
}
