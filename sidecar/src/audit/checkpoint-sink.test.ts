import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envToConfig, openS3Blobs, readEnv } from '@cpod/runtime';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpointSink } from './audit-checkpoints.js';
import { checkpointProblem, signCheckpoint } from './checkpoint.js';
import { blobCheckpointSink, type CheckpointSink, fileCheckpointSink } from './checkpoint-sink.js';
import { loadOrCreateSigningKey } from './signing-key.js';

/** Both checkpoint sinks: the JSON-lines file, and S3 through the blob port against s3rver. */
const dir = mkdtempSync(join(tmpdir(), 'cpod-cp-sink-'));
let s3rver: S3rver;
let endpoint: string;

beforeAll(async () => {
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(dir, 's3') });
  endpoint = `http://127.0.0.1:${(await s3rver.run()).port}`;
});

afterAll(async () => {
  await s3rver?.close();
  rmSync(dir, { recursive: true, force: true });
});

const s3Env = () => ({
  CPOD_DATA_DIR: join(dir, 'data'),
  CORESDK_AUDIT_CHECKPOINT_SINK: 's3',
  CPOD_S3_ENDPOINT: endpoint,
  CPOD_S3_ACCESS_KEY: 'S3RVER',
  CPOD_S3_SECRET_KEY: 'S3RVER',
  CPOD_S3_BUCKET: 'cpod-checkpoints',
});

const sinks: Array<{ name: string; open(): Promise<CheckpointSink> }> = [
  { name: 'file', open: async () => fileCheckpointSink(join(dir, 'file', 'checkpoints.jsonl')) },
  { name: 's3 (s3rver, chosen by config)', open: () => openCheckpointSink(envToConfig(readEnv(s3Env()))) },
];

describe.each(sinks)('checkpoint sink: $name', ({ open }) => {
  it('keeps every checkpoint per tenant, each still verifying with the public key', async () => {
    const sink = await open();
    const key = loadOrCreateSigningKey(join(dir, 'key.json'));
    const written = [1, 5, 9].map((seq) =>
      signCheckpoint(key, { tenant: 'acme', seq, hash: `${seq}`.repeat(64) }),
    );
    for (const checkpoint of written) await sink.write(checkpoint);
    await sink.write(signCheckpoint(key, { tenant: 'globex', seq: 2, hash: 'f'.repeat(64) }));
    const read = await sink.read('acme');
    expect(read).toEqual(written);
    expect(read.map((c) => checkpointProblem(c, 'acme', key.publicKey))).toEqual(['', '', '']);
    expect(await sink.read('globex')).toHaveLength(1);
    expect(await sink.read('nobody')).toEqual([]);
  });
});

describe('an S3 checkpoint object edited in the bucket', () => {
  it('no longer verifies', async () => {
    const blobs = await openS3Blobs({
      endpoint,
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      bucket: 'cpod-edited',
      region: 'us-east-1',
    });
    const sink = blobCheckpointSink(blobs, 1);
    const key = loadOrCreateSigningKey(join(dir, 'key.json'));
    await sink.write(signCheckpoint(key, { tenant: 'acme', seq: 3, hash: 'a'.repeat(64) }));
    const [objectKey] = await blobs.list('audit-checkpoints/acme/');
    const original = JSON.parse(new TextDecoder().decode((await blobs.get(objectKey!))!));
    // s3rver has no object lock, so the object can be replaced, as on any unlocked bucket.
    await blobs.put(objectKey!, JSON.stringify({ ...original, hash: 'b'.repeat(64) }));
    const [edited] = await sink.read('acme');
    expect(checkpointProblem(edited, 'acme', key.publicKey)).toMatch(/invalid signature/);
  });
});
