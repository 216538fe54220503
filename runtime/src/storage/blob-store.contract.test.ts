import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, describe, expect, it } from 'vitest';
import { openLocalBlobs } from './blob-local.js';
import { openS3Blobs } from './blob-s3.js';
import type { BlobStore } from './blob-store.js';

/**
 * One list of blob behaviours, run against local files and against an S3 server: s3rver,
 * started here on a free port (it checks no signatures and has no object lock, which is
 * exactly the "server without object lock" case the adapter has to tolerate).
 */

interface Backend {
  name: string;
  setup(): Promise<{ store: BlobStore; teardown(): Promise<void> }>;
}

const tempDirs: string[] = [];
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `cpod-blob-${label}-`));
  tempDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const backends: Backend[] = [
  {
    name: 'file',
    async setup() {
      const store = openLocalBlobs({ dir: join(tempDir('file'), 'blobs') });
      return { store, teardown: () => store.close() };
    },
  },
  {
    name: 's3 (s3rver)',
    async setup() {
      const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir('s3') });
      const { port } = await server.run();
      const store = await openS3Blobs({
        endpoint: `http://127.0.0.1:${port}`,
        accessKey: 'S3RVER',
        secretKey: 'S3RVER',
        bucket: 'cpod-contract',
        region: 'us-east-1',
      });
      return {
        store,
        async teardown() {
          await store.close();
          await server.close();
        },
      };
    },
  },
];

console.info(`blob contract: running against ${backends.map((b) => b.name).join(', ')}`);

describe.each(backends)('blob store: $name', (backend) => {
  it('stores, reads back and lists objects by prefix in byte order', async () => {
    const { store, teardown } = await backend.setup();
    try {
      await store.ping();
      expect(await store.list('')).toEqual([]);
      await store.put('audit/acme/0002.json', '{"seq":2}');
      await store.put('audit/acme/0001.json', new Uint8Array([123, 125]));
      await store.put('audit/globex/0001.json', 'x');
      await store.put('other.txt', 'not audit');
      expect(new TextDecoder().decode((await store.get('audit/acme/0002.json'))!)).toBe('{"seq":2}');
      expect(Array.from((await store.get('audit/acme/0001.json'))!)).toEqual([123, 125]);
      expect(await store.list('audit/acme/')).toEqual(['audit/acme/0001.json', 'audit/acme/0002.json']);
      expect(await store.list('audit/')).toHaveLength(3);
      expect(await store.list('nothing/')).toEqual([]);
    } finally {
      await teardown();
    }
  });

  it('answers null for a missing object and rejects keys that could escape', async () => {
    const { store, teardown } = await backend.setup();
    try {
      expect(await store.get('audit/none.json')).toBeNull();
      await expect(store.put('../escape', 'x')).rejects.toThrow(/invalid blob key/);
      await expect(store.put('a//b', 'x')).rejects.toThrow(/invalid blob key/);
      await expect(store.get('/etc/passwd')).rejects.toThrow(/invalid blob key/);
    } finally {
      await teardown();
    }
  });

  it('asks for retention and reports whether the backend locked the object', async () => {
    const { store, teardown } = await backend.setup();
    try {
      const result = await store.put('locked/1.json', '{}', { retainUntil: new Date(Date.now() + 60_000) });
      // Neither local files nor s3rver have object lock: the put succeeds, unlocked, and is readable.
      expect(result).toEqual({ locked: false });
      expect(await store.get('locked/1.json')).not.toBeNull();
    } finally {
      await teardown();
    }
  });
});

describe('local blobs are write-once', () => {
  it('refuses to replace an existing object', async () => {
    const store = openLocalBlobs({ dir: tempDir('once') });
    await store.put('cp/1.json', 'first');
    await expect(store.put('cp/1.json', 'second')).rejects.toThrow(/EEXIST/);
    expect(new TextDecoder().decode((await store.get('cp/1.json'))!)).toBe('first');
  });
});
