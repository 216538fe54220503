import { z } from 'zod';
import { type Address, parseAddress } from './address.js';

/**
 * Every environment variable the platform reads, in one schema. Parsing collects every
 * problem before failing so an operator fixes a broken deployment in one pass.
 */
const address = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx): Address => {
      const parsed = parseAddress(value);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    });

const optionalUrl = z.url().optional();
const flag = z
  .enum(['0', '1', 'true', 'false', ''])
  .default('0')
  .transform((v) => v === '1' || v === 'true');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const positiveNumber = (fallback: number) => z.coerce.number().positive().default(fallback);

const envSchema = z.object({
  CPOD_GATEWAY_ADDR: address('0.0.0.0:8000'),
  CPOD_CONSOLE_ADDR: address('127.0.0.1:8001'),
  CORESDK_SIDECAR_ADDR: address('[::1]:50051'),
  CORESDK_METRICS_ADDR: address('127.0.0.1:9091'),
  CORESDK_CP_ADDR: address('127.0.0.1:8080'),
  CPOD_DATA_DIR: z.string().min(1).default('.cpod/data'),
  CPOD_ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  // Read-only credential for GET /v1/revocations, so gateways never hold the admin token.
  CPOD_REVOCATION_FEED_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  CPOD_DATABASE_URL: optionalUrl,
  CPOD_MONGODB_URL: optionalUrl,
  CPOD_REDIS_URL: optionalUrl,
  CPOD_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  CPOD_ISSUER: optionalUrl,
  CPOD_TOKEN_AUDIENCE: z.string().min(1).default('cpod-api'),
  CPOD_ACCESS_TOKEN_TTL: z.coerce
    .number()
    .int()
    .min(60)
    .max(3600, 'access tokens live at most 3600 s (RFC 9068 profile of this platform)')
    .default(3600),
  // How long the control plane remembers a verified client secret (0 = verify with argon2id every time).
  CPOD_CLIENT_SECRET_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(30_000),
  CPOD_CONTROL_PLANE_URL: optionalUrl,
  CPOD_MAX_BODY_BYTES: positiveInt(65_536),
  CORESDK_ENV: z.enum(['development', 'production']).default('development'),
  CORESDK_JWKS_URI: optionalUrl,
  CORESDK_EXPECTED_ISSUER: z.string().min(1).optional(),
  CORESDK_EXPECTED_AUDIENCE: z.string().min(1).optional(),
  CORESDK_POLICY_DIR: z.string().min(1).optional(),
  CORESDK_POLICY_WORKERS: z.coerce.number().int().min(1).max(64).default(2),
  CORESDK_POLICY_BUDGET_MS: z.coerce.number().int().min(1).max(60_000).default(100),
  CORESDK_FAIL_MODE: z.enum(['closed', 'open']).default('closed'),
  CORESDK_SIGNING_KEY_PATH: z.string().min(1).optional(),
  CORESDK_SIDECAR_TIMEOUT_MS: positiveInt(2000),
  CORESDK_RATE_LIMIT_CAPACITY: positiveInt(100),
  CORESDK_RATE_LIMIT_REFILL_PER_SECOND: positiveNumber(20),
  CORESDK_INSECURE_DEV_TOKENS: flag,
  // mTLS between gateway and sidecar; required for a non-loopback CORESDK_SIDECAR_ADDR.
  CORESDK_TLS_CERT_FILE: z.string().min(1).optional(),
  CORESDK_TLS_KEY_FILE: z.string().min(1).optional(),
  CORESDK_TLS_CA_FILE: z.string().min(1).optional(),
  // The gateway's client certificate; defaults to CORESDK_TLS_CERT_FILE / _KEY_FILE.
  CORESDK_TLS_CLIENT_CERT_FILE: z.string().min(1).optional(),
  CORESDK_TLS_CLIENT_KEY_FILE: z.string().min(1).optional(),
  // Audit: the gateway's bounded queue, and the sidecar's signed checkpoints of each chain head.
  CORESDK_AUDIT_QUEUE_MAX: positiveInt(10_000),
  CORESDK_AUDIT_BATCH_MAX: positiveInt(100),
  CORESDK_AUDIT_CHECKPOINT_SINK: z.enum(['file', 's3']).default('file'),
  CORESDK_AUDIT_CHECKPOINT_FILE: z.string().min(1).optional(),
  CORESDK_AUDIT_CHECKPOINT_INTERVAL_MS: positiveInt(5000),
  CORESDK_AUDIT_SIGNING_KEY_PATH: z.string().min(1).optional(),
  // S3 object-lock retention of each checkpoint object (COMPLIANCE mode where the bucket supports it).
  CORESDK_AUDIT_CHECKPOINT_RETENTION_DAYS: positiveInt(365),
  // Blob store (MinIO/S3).
  CPOD_S3_ENDPOINT: optionalUrl,
  CPOD_S3_ACCESS_KEY: z.string().min(1).optional(),
  CPOD_S3_SECRET_KEY: z.string().min(1).optional(),
  CPOD_S3_BUCKET: z.string().min(3).default('cpod'),
  CPOD_S3_REGION: z.string().min(1).default('us-east-1'),
  // OpenTelemetry: traces are exported only when an endpoint is set.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
});

export type ServerEnv = z.output<typeof envSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the variables this platform knows; unknown variables are ignored. */
export function readEnv(env: Record<string, string | undefined>): ServerEnv {
  // An empty variable means "unset", as with most twelve-factor tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
}
