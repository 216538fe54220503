// Generates TypeScript for proto/coresdk/v1/*.proto and the standard gRPC health protocol
// (proto/grpc/health/v1) with ts-proto, using the protoc
// binary shipped in the npm `protoc` package (no system install needed).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'proto/src/generated');
const protoDir = join(root, 'proto');
const files = readdirSync(join(protoDir, 'coresdk/v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => `coresdk/v1/${f}`);
files.push('grpc/health/v1/health.proto');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const options = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'importSuffix=.js',
  'env=node',
  'forceLong=number',
  'useOptionals=messages',
  'oneof=unions-value',
  'fileSuffix=',
].join(',');
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/protoc/protoc.cjs'),
    `--plugin=protoc-gen-ts_proto=${join(root, 'node_modules/.bin/protoc-gen-ts_proto')}`,
    `--ts_proto_out=${out}`,
    `--ts_proto_opt=${options}`,
    `-I${protoDir}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);
