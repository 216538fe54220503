/**
 * Prometheus metrics of the sidecar, served at /metrics on CORESDK_METRICS_ADDR. One
 * registry per process, like a Prometheus client's default registry: the gRPC wrapper and
 * the services record into it without plumbing.
 */
import { Counter, Histogram, Registry } from '@cpod/runtime';

export { Counter, Gauge, Histogram, Registry } from '@cpod/runtime';

export const registry = new Registry();

export const rpcTotal = registry.add(
  new Counter('cpod_sidecar_rpc_total', 'gRPC calls by method and outcome (ok or the gRPC status).'),
);
export const rpcSeconds = registry.add(
  new Histogram(
    'cpod_sidecar_rpc_duration_seconds',
    'gRPC handler latency by method and outcome.',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  ),
);
export const policyReloads = registry.add(
  new Counter('cpod_sidecar_policy_reloads_total', 'Policy directory reloads by result.'),
);
export const rateLimitRejections = registry.add(
  new Counter('cpod_sidecar_rate_limit_rejections_total', 'CheckRateLimit calls that were refused.'),
);
export const kvOutageCalls = registry.add(
  new Counter(
    'cpod_sidecar_kv_unavailable_total',
    'Checks made while the key/value store (Redis) was down, by check (rate_limit, revocation) and fail mode (closed: refused; open: local bucket / revocation not checked).',
  ),
);
export const auditAppends = registry.add(
  new Counter('cpod_sidecar_audit_appends_total', 'Audit records appended to the hash chain.'),
);
export const jwksRefreshes = registry.add(
  new Counter(
    'cpod_sidecar_jwks_refreshes_total',
    'JWKS fetches by result (success or failure), at start-up and on an unknown kid.',
  ),
);
