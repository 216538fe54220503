import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { assertBlobKey, type BlobStore } from './blob-store.js';

/**
 * Blobs as files under `dir`: the embedded default, no server needed. Objects are written
 * once (`wx`): a put of an existing key fails instead of replacing it, the file-system
 * stand-in for S3 object lock. There is no retention clock, so `locked` is always false.
 */
export function openLocalBlobs(options: { dir: string }): BlobStore {
  const path = (key: string) => {
    assertBlobKey(key);
    return join(options.dir, ...key.split('/'));
  };
  return {
    kind: 'file',
    async put(key, body) {
      const file = path(key);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, body, { flag: 'wx', mode: 0o600 });
      return { locked: false };
    },
    async get(key) {
      try {
        return new Uint8Array(await readFile(path(key)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async list(prefix) {
      const entries = await readdir(options.dir, { recursive: true, withFileTypes: true }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return [];
          throw err;
        },
      );
      return entries
        .filter((entry) => entry.isFile())
        .map((entry) => relative(options.dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
        .filter((key) => key.startsWith(prefix))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
    async ping() {
      await mkdir(options.dir, { recursive: true });
    },
    async close() {},
  };
}
