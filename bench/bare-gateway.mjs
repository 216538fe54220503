// Benchmark baseline: the same yoga server, schema and REST routes as the gateway, with
// the sidecar chain switched off (no token check, policy, rate limit or audit). Run only by
// gateway-bench.mjs; prints "ready <url>" once listening.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '@cpod/gateway';
import { createLogger, openPgliteDocuments, startHttpServer } from '@cpod/runtime';

const logger = createLogger({ level: 'warn' });
// On disk, like the documents of `npm start`, so the baseline pays the same store costs.
const dataDir = mkdtempSync(join(tmpdir(), 'cpod-bare-gateway-'));
const store = await openPgliteDocuments({ dataDir });
const gateway = createGateway({
  store,
  sidecar: undefined,
  logger,
  controlPlaneUrl: 'http://127.0.0.1:9',
  maxBodyBytes: 65_536,
  readiness: async () => ({ gateway: true }),
  benchmarkWithoutChain: { tenant: 'bench' },
});
const http = await startHttpServer({
  addr: { host: '127.0.0.1', port: 0 },
  fetch: (r) => gateway.fetch(r),
  logger,
});
process.stdout.write(`ready ${http.url}\n`);
process.on('SIGTERM', async () => {
  await http.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
