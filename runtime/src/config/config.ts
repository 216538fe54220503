import { join } from 'node:path';
import { type Address, httpUrl } from './address.js';
import type { ServerEnv } from './env.js';

export interface StoreConfig {
  dataDir: string;
  databaseUrl: string | undefined;
  mongodbUrl: string | undefined;
  redisUrl: string | undefined;
  /** Set when CPOD_S3_ENDPOINT is; blobs are local files otherwise. */
  s3: S3Config | undefined;
}

export interface S3Config {
  endpoint: string;
  accessKey: string | undefined;
  secretKey: string | undefined;
  bucket: string;
  region: string;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface PlatformConfig {
  env: 'development' | 'production';
  logLevel: ServerEnv['CPOD_LOG_LEVEL'];
  dataDir: string;
  adminToken: string | undefined;
  /** Bearer token that may read the control plane's revocation feed and nothing else. */
  revocationFeedToken: string | undefined;
  /** Each process keeps its embedded stores in its own folder: PGlite allows one process per data dir. */
  stores(service: 'control-plane' | 'sidecar' | 'gateway'): StoreConfig;
  gateway: {
    addr: Address;
    consoleAddr: Address;
    controlPlaneUrl: string;
    maxBodyBytes: number;
    /** mTLS to the sidecar: the CA that signed the sidecar's certificate and the gateway's client pair. */
    sidecarTls: TlsFiles | undefined;
    audit: { queueMax: number; batchMax: number };
  };
  controlPlane: {
    addr: Address;
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    clientSecretCacheTtlMs: number;
    signingKeyPath: string;
  };
  sidecar: {
    addr: Address;
    metricsAddr: Address;
    jwksUri: string | undefined;
    expectedIssuer: string | undefined;
    expectedAudience: string | undefined;
    policyDir: string | undefined;
    policyWorkers: number;
    policyBudgetMs: number;
    failMode: 'closed' | 'open';
    timeoutMs: number;
    rateLimit: { capacity: number; refillPerSecond: number };
    insecureDevTokens: boolean;
    /** Undefined unless all three files are set; checkSidecarConfig reports a partial set. */
    tls: TlsFiles | undefined;
    tlsPartial: { certFile?: string; keyFile?: string; caFile?: string };
    audit: {
      checkpointSink: 'file' | 's3';
      checkpointFile: string;
      checkpointIntervalMs: number;
      checkpointRetentionDays: number;
      signingKeyPath: string;
    };
  };
  telemetry: { otlpEndpoint: string | undefined; serviceName: string | undefined };
}

/** Pure: the same variables always give the same configuration. */
export function envToConfig(env: ServerEnv): PlatformConfig {
  const dataDir = env.CPOD_DATA_DIR;
  const issuer = env.CPOD_ISSUER ?? httpUrl(env.CORESDK_CP_ADDR);
  const tlsPartial = {
    certFile: env.CORESDK_TLS_CERT_FILE,
    keyFile: env.CORESDK_TLS_KEY_FILE,
    caFile: env.CORESDK_TLS_CA_FILE,
  };
  const tls =
    tlsPartial.certFile && tlsPartial.keyFile && tlsPartial.caFile
      ? { certFile: tlsPartial.certFile, keyFile: tlsPartial.keyFile, caFile: tlsPartial.caFile }
      : undefined;
  const s3 = env.CPOD_S3_ENDPOINT
    ? {
        endpoint: env.CPOD_S3_ENDPOINT,
        accessKey: env.CPOD_S3_ACCESS_KEY,
        secretKey: env.CPOD_S3_SECRET_KEY,
        bucket: env.CPOD_S3_BUCKET,
        region: env.CPOD_S3_REGION,
      }
    : undefined;
  return {
    env: env.CORESDK_ENV,
    logLevel: env.CPOD_LOG_LEVEL,
    dataDir,
    adminToken: env.CPOD_ADMIN_TOKEN,
    revocationFeedToken: env.CPOD_REVOCATION_FEED_TOKEN,
    stores: (service) => ({
      dataDir: join(dataDir, service),
      databaseUrl: env.CPOD_DATABASE_URL,
      mongodbUrl: env.CPOD_MONGODB_URL,
      redisUrl: env.CPOD_REDIS_URL,
      s3,
    }),
    gateway: {
      addr: env.CPOD_GATEWAY_ADDR,
      consoleAddr: env.CPOD_CONSOLE_ADDR,
      controlPlaneUrl: env.CPOD_CONTROL_PLANE_URL ?? httpUrl(env.CORESDK_CP_ADDR),
      maxBodyBytes: env.CPOD_MAX_BODY_BYTES,
      sidecarTls: tls && {
        caFile: tls.caFile,
        certFile: env.CORESDK_TLS_CLIENT_CERT_FILE ?? tls.certFile,
        keyFile: env.CORESDK_TLS_CLIENT_KEY_FILE ?? tls.keyFile,
      },
      audit: { queueMax: env.CORESDK_AUDIT_QUEUE_MAX, batchMax: env.CORESDK_AUDIT_BATCH_MAX },
    },
    controlPlane: {
      addr: env.CORESDK_CP_ADDR,
      issuer,
      audience: env.CPOD_TOKEN_AUDIENCE,
      accessTokenTtlSeconds: env.CPOD_ACCESS_TOKEN_TTL,
      clientSecretCacheTtlMs: env.CPOD_CLIENT_SECRET_CACHE_TTL_MS,
      signingKeyPath: env.CORESDK_SIGNING_KEY_PATH ?? join(dataDir, 'control-plane', 'signing-key.json'),
    },
    sidecar: {
      addr: env.CORESDK_SIDECAR_ADDR,
      metricsAddr: env.CORESDK_METRICS_ADDR,
      jwksUri: env.CORESDK_JWKS_URI,
      // In development the expected issuer and audience follow the local control plane;
      // production must name them (checked by the sidecar at start-up).
      expectedIssuer: env.CORESDK_EXPECTED_ISSUER ?? (env.CORESDK_ENV === 'development' ? issuer : undefined),
      expectedAudience:
        env.CORESDK_EXPECTED_AUDIENCE ??
        (env.CORESDK_ENV === 'development' ? env.CPOD_TOKEN_AUDIENCE : undefined),
      policyDir: env.CORESDK_POLICY_DIR,
      policyWorkers: env.CORESDK_POLICY_WORKERS,
      policyBudgetMs: env.CORESDK_POLICY_BUDGET_MS,
      failMode: env.CORESDK_FAIL_MODE,
      timeoutMs: env.CORESDK_SIDECAR_TIMEOUT_MS,
      rateLimit: {
        capacity: env.CORESDK_RATE_LIMIT_CAPACITY,
        refillPerSecond: env.CORESDK_RATE_LIMIT_REFILL_PER_SECOND,
      },
      insecureDevTokens: env.CORESDK_INSECURE_DEV_TOKENS,
      tls,
      tlsPartial,
      audit: {
        checkpointSink: env.CORESDK_AUDIT_CHECKPOINT_SINK,
        checkpointFile:
          env.CORESDK_AUDIT_CHECKPOINT_FILE ?? join(dataDir, 'sidecar', 'audit-checkpoints.jsonl'),
        checkpointIntervalMs: env.CORESDK_AUDIT_CHECKPOINT_INTERVAL_MS,
        checkpointRetentionDays: env.CORESDK_AUDIT_CHECKPOINT_RETENTION_DAYS,
        signingKeyPath:
          env.CORESDK_AUDIT_SIGNING_KEY_PATH ?? join(dataDir, 'sidecar', 'audit-signing-key.json'),
      },
    },
    telemetry: { otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: env.OTEL_SERVICE_NAME },
  };
}
