#!/usr/bin/env node
/**
 * `npm run audit:verify -- --tenant acme [--tenant globex] [options]`
 *
 * Checks tenant audit chains against the signed checkpoints, independently of the sidecar's
 * own VerifyChain: every record's sequence, previous_hash and record_hash are recomputed,
 * every checkpoint's Ed25519 signature is checked with the exported public key, and the
 * record at each checkpoint's sequence must carry the checkpointed hash. So a store that was
 * rewritten with every hash recomputed still fails.
 *
 * Options (defaults come from the same environment variables as the sidecar):
 *   --tenant ID          tenant to check; repeatable; required
 *   --sidecar HOST:PORT  read records over gRPC QueryAudit (default CORESDK_SIDECAR_ADDR)
 *   --store              read records from the sidecar's document store instead
 *                        (CPOD_DATABASE_URL / CPOD_MONGODB_URL / the embedded one when no sidecar runs)
 *   --checkpoints FILE   checkpoint JSON-lines file (default: the CORESDK_AUDIT_CHECKPOINT_SINK sink)
 *   --public-key FILE    exported public key (default: next to CORESDK_AUDIT_SIGNING_KEY_PATH, *.pub.json)
 *   --json               print one JSON object per tenant instead of text
 *
 * Exit status: 0 every chain verifies; 1 a chain or its checkpoints were tampered with;
 * 2 usage error or the records or checkpoints could not be read.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type AuditRecord, AuditServiceClient } from '@cpod/proto';
import {
  connectableHost,
  type DocumentStore,
  envToConfig,
  formatAddress,
  openDocumentStore,
  type PlatformConfig,
  readEnv,
} from '@cpod/runtime';
import { credentials, Metadata } from '@grpc/grpc-js';
import { AuditChain } from './audit/audit-chain.js';
import { openCheckpointSink } from './audit/audit-checkpoints.js';
import type { StoredAuditRecord } from './audit/audit-record.js';
import { verifyChainWithCheckpoints } from './audit/checkpoint.js';
import { fileCheckpointSink } from './audit/checkpoint-sink.js';
import { fromProtoRecord } from './audit/proto-record.js';
import { publicKeyPathFor, readPublicKey } from './audit/signing-key.js';

const USAGE =
  'usage: npm run audit:verify -- --tenant ID [--tenant ID...] [--sidecar HOST:PORT | --store] [--checkpoints FILE] [--public-key FILE] [--json]';

async function* recordsOverGrpc(
  client: AuditServiceClient,
  tenant: string,
): AsyncGenerator<StoredAuditRecord> {
  let pageToken = '';
  do {
    const page = await new Promise<{ records: AuditRecord[]; nextPageToken: string }>((resolve, reject) =>
      client.queryAudit(
        {
          tenantId: tenant,
          actor: '',
          action: '',
          resource: '',
          outcome: '',
          occurredFrom: '',
          occurredTo: '',
          pageSize: 500,
          pageToken,
        },
        new Metadata(),
        { deadline: Date.now() + 30_000 },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    for (const record of page.records) yield fromProtoRecord(record);
    pageToken = page.nextPageToken;
  } while (pageToken);
}

function grpcClient(config: PlatformConfig, address: string | undefined): AuditServiceClient {
  const target =
    address ?? formatAddress({ ...config.sidecar.addr, host: connectableHost(config.sidecar.addr.host) });
  const tls = config.gateway.sidecarTls;
  const creds = tls
    ? credentials.createSsl(readFileSync(tls.caFile), readFileSync(tls.keyFile), readFileSync(tls.certFile))
    : credentials.createInsecure();
  return new AuditServiceClient(target, creds);
}

const parse = (args: string[]) =>
  parseArgs({
    args,
    options: {
      tenant: { type: 'string', multiple: true },
      sidecar: { type: 'string' },
      store: { type: 'boolean' },
      checkpoints: { type: 'string' },
      'public-key': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const tenants = values.tenant ?? [];
  if (tenants.length === 0 || (values.store && values.sidecar)) {
    console.error(USAGE);
    return 2;
  }

  const config = envToConfig(readEnv(process.env));
  const publicKeyPath = values['public-key'] ?? publicKeyPathFor(config.sidecar.audit.signingKeyPath);
  const publicKey = readPublicKey(publicKeyPath);
  const sink = values.checkpoints ? fileCheckpointSink(values.checkpoints) : await openCheckpointSink(config);

  let store: DocumentStore | undefined;
  let client: AuditServiceClient | undefined;
  if (values.store) store = await openDocumentStore(config.stores('sidecar'));
  else client = grpcClient(config, values.sidecar);
  const chain = store ? new AuditChain(store) : undefined;

  let tampered = false;
  try {
    for (const tenant of tenants) {
      const records = chain ? chain.all(tenant) : recordsOverGrpc(client!, tenant);
      const result = await verifyChainWithCheckpoints(tenant, records, await sink.read(tenant), publicKey);
      tampered ||= !result.valid;
      if (values.json) {
        console.log(JSON.stringify({ tenant, ...result }));
      } else if (result.valid) {
        console.log(
          `OK        ${tenant}: ${result.recordsChecked} records, ${result.checkpointsChecked} signed checkpoints match, head ${result.headHash.slice(0, 16)}…`,
        );
      } else {
        console.log(
          `TAMPERED  ${tenant}: first broken sequence ${result.firstBrokenSeq}: ${result.problem} (${result.recordsChecked} records verified before it)`,
        );
      }
    }
  } finally {
    client?.close();
    await store?.close();
  }
  return tampered ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`audit:verify failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
