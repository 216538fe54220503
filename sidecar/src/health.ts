import { type HealthServer, HealthCheckResponse_ServingStatus as ServingStatus } from '@cpod/proto';
import { ApiError } from '@cpod/runtime';
import { type ServerWritableStream, status } from '@grpc/grpc-js';

/** What the sidecar needs to serve; each is checked on every probe. */
export interface Dependencies {
  documents: { ping(): Promise<void> };
  kv: { ping(): Promise<void> };
  /** True once a policy set is installed in the workers. */
  policyLoaded: () => boolean;
}

export interface Readiness {
  documents: boolean;
  kv: boolean;
  policy: boolean;
  /** Why a dependency is down, safe to show (no connection strings). */
  reasons: string[];
}

const PING_TIMEOUT_MS = 1000;

/** Which dependencies each gRPC service needs; "" is the server as a whole. */
const SERVICE_NEEDS: Record<string, Array<'documents' | 'kv' | 'policy'>> = {
  '': ['documents', 'kv', 'policy'],
  'coresdk.v1.AuthService': ['kv', 'policy'],
  'coresdk.v1.RateLimitService': ['kv'],
  'coresdk.v1.AuditService': ['documents'],
  'coresdk.v1.PolicyService': ['policy'],
};

export async function probe(deps: Dependencies): Promise<Readiness> {
  const reasons: string[] = [];
  const ping = async (name: string, store: { ping(): Promise<void> }) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${name} did not answer within 1 s`)), PING_TIMEOUT_MS);
        }),
      ]);
      return true;
    } catch (err) {
      reasons.push(`${name}: ${ApiError.from(err).publicMessage}`);
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
  const [documents, kv] = await Promise.all([ping('documents', deps.documents), ping('kv', deps.kv)]);
  const policy = deps.policyLoaded();
  if (!policy) reasons.push('policy: no policy set is loaded');
  return { documents, kv, policy, reasons };
}

export const isReady = (r: Readiness) => r.documents && r.kv && r.policy;

function statusOf(service: string, readiness: Readiness): ServingStatus {
  const needs = SERVICE_NEEDS[service];
  if (needs === undefined) return ServingStatus.SERVICE_UNKNOWN;
  return needs.every((n) => readiness[n]) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

/**
 * grpc.health.v1.Health over the same probe as /readyz. Watch streams are polled, and are
 * ended by `close()` so that a graceful shutdown does not wait for a watcher that never hangs up.
 */
export function healthService(
  deps: Dependencies,
  options: { watchIntervalMs?: number } = {},
): { service: HealthServer; close(): void } {
  const watchers = new Set<() => void>();
  const service: HealthServer = {
    check: (call, callback) => {
      const name = call.request.service;
      if (SERVICE_NEEDS[name] === undefined) {
        callback({ code: status.NOT_FOUND, details: `unknown service "${name}"` }, null);
        return;
      }
      probe(deps).then(
        (readiness) => callback(null, { status: statusOf(name, readiness) }),
        () => callback(null, { status: ServingStatus.NOT_SERVING }),
      );
    },
    watch: (call: ServerWritableStream<{ service: string }, { status: ServingStatus }>) => {
      const name = call.request.service;
      let last: ServingStatus | undefined;
      let stopped = false;
      const send = async () => {
        const readiness = await probe(deps);
        const current = statusOf(name, readiness);
        if (!stopped && current !== last) {
          last = current;
          call.write({ status: current });
        }
      };
      const timer = setInterval(() => void send(), options.watchIntervalMs ?? 2000);
      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        watchers.delete(stop);
        call.end();
      };
      watchers.add(stop);
      call.on('cancelled', stop);
      call.on('error', stop);
      void send();
    },
  };
  return {
    service,
    close: () => {
      for (const stop of [...watchers]) stop();
    },
  };
}
