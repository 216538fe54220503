import { Client } from 'minio';
import type { S3Config } from '../config/config.js';
import { assertBlobKey, type BlobStore } from './blob-store.js';
import { storeUnavailable } from './store-errors.js';

/**
 * Blobs in an S3-compatible bucket (MinIO, AWS) through the `minio` client. The bucket is
 * created on open, with object lock when the server supports it; each put then asks for
 * COMPLIANCE retention, and servers without object lock (s3rver, plain buckets) simply
 * report `locked: false`.
 */
export async function openS3Blobs(config: S3Config): Promise<BlobStore> {
  const url = new URL(config.endpoint);
  const client = new Client({
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : undefined,
    useSSL: url.protocol === 'https:',
    accessKey: config.accessKey ?? '',
    secretKey: config.secretKey ?? '',
    region: config.region,
    pathStyle: true,
  });
  const { bucket } = config;
  const unavailable = (err: unknown) => storeUnavailable('S3', config.endpoint, err);

  // Whether retention is worth asking for: false once the server has shown it has no object lock.
  let lockable = true;
  try {
    if (!(await client.bucketExists(bucket))) {
      lockable = await client.makeBucket(bucket, config.region, { ObjectLocking: true }).then(
        () => true,
        async () => {
          await client.makeBucket(bucket, config.region);
          return false;
        },
      );
    }
  } catch (err) {
    throw unavailable(err);
  }

  return {
    kind: 's3',
    async put(key, body, options = {}) {
      assertBlobKey(key);
      const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
      const info = await client.putObject(bucket, key, data, data.length).catch((err: unknown) => {
        throw unavailable(err);
      });
      if (!lockable || !options.retainUntil) return { locked: false };
      const locked = await client
        .putObjectRetention(bucket, key, {
          versionId: info.versionId ?? '',
          mode: 'COMPLIANCE',
          retainUntilDate: options.retainUntil.toISOString(),
        })
        .then(
          () => true,
          () => false,
        );
      lockable = locked;
      return { locked };
    },
    async get(key) {
      assertBlobKey(key);
      try {
        const stream = await client.getObject(bucket, key);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return new Uint8Array(Buffer.concat(chunks));
      } catch (err) {
        if ((err as { code?: string }).code === 'NoSuchKey') return null;
        throw unavailable(err);
      }
    },
    async list(prefix) {
      const keys: string[] = [];
      try {
        for await (const item of client.listObjectsV2(bucket, prefix, true)) {
          if (item.name) keys.push(item.name);
        }
      } catch (err) {
        throw unavailable(err);
      }
      return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
    async ping() {
      const exists = await client.bucketExists(bucket).catch((err: unknown) => {
        throw unavailable(err);
      });
      if (!exists) throw unavailable(new Error(`bucket ${bucket} does not exist`));
    },
    async close() {},
  };
}
