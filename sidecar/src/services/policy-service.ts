import type {
  DryRunResponse,
  EvaluateResponse,
  PolicyServiceServer,
  PolicyUpdate,
  WatchPolicyUpdatesRequest,
} from '@cpod/proto';
import { ApiError, type Logger } from '@cpod/runtime';
import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { PolicyResult } from '../policy/policy-engine.js';
import type { PolicyPool } from '../policy/policy-pool.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';
import { unary } from '../unary.js';

const PATH = /^(data\.)?[A-Za-z_][\w]*([./][A-Za-z_][\w]*)*$/;
const MAX_DRY_RUN_MODULES = 100;

/** Accepts `cpod/authz/allow`, `cpod.authz.allow` and `data.cpod.authz.allow`. */
export function normalisePolicyPath(path: string): string {
  if (!PATH.test(path))
    throw new ApiError('ERR_VALIDATION_FAILED', `invalid policy path "${path}"`, { field: 'path' });
  const dotted = path.replaceAll('/', '.');
  return dotted.startsWith('data.') ? dotted : `data.${dotted}`;
}

/** `true`, or an object whose `allow` is true, counts as allowed; the reason comes along when present. */
export function interpret(result: PolicyResult): { allowed: boolean; reason: string } {
  const value = result.value;
  if (value === true) return { allowed: true, reason: '' };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    return { allowed: v.allow === true, reason: typeof v.reason === 'string' ? v.reason : '' };
  }
  return { allowed: false, reason: result.defined ? '' : 'undefined' };
}

export function policyService(deps: {
  pool: PolicyPool;
  watcher: PolicyWatcher;
  logger: Logger;
}): PolicyServiceServer {
  return {
    evaluate: unary(deps.logger, 'Evaluate', async (request): Promise<EvaluateResponse> => {
      const path = normalisePolicyPath(request.path);
      const result = await deps.pool.evaluate(path, request.input ?? null);
      return { defined: result.defined, result: result.value, ...interpret(result) };
    }),

    dryRun: unary(deps.logger, 'DryRun', async (request): Promise<DryRunResponse> => {
      const path = normalisePolicyPath(request.path);
      if (request.modules.length === 0)
        throw new ApiError('ERR_VALIDATION_FAILED', 'modules must not be empty', { field: 'modules' });
      if (request.modules.length > MAX_DRY_RUN_MODULES)
        throw new ApiError('ERR_VALIDATION_FAILED', `at most ${MAX_DRY_RUN_MODULES} modules`, {
          field: 'modules',
        });
      const modules = request.modules.map((m, i) => ({
        path: m.path || `module${i}.rego`,
        source: m.source,
      }));
      const outcome = await deps.pool.dryRun(modules, path, request.input ?? null);
      if (!outcome.ok) {
        return { defined: false, result: undefined, allowed: false, errors: outcome.problems };
      }
      const { result } = outcome;
      return {
        defined: result.defined,
        result: result.value,
        allowed: interpret(result).allowed,
        errors: [],
      };
    }),

    watchPolicyUpdates: (call: ServerWritableStream<WatchPolicyUpdatesRequest, PolicyUpdate>) => {
      const unsubscribe = deps.watcher.subscribe((update) => {
        call.write({
          revision: update.revision,
          modules: update.modules,
          loadedAt: update.loadedAt.toISOString(),
        });
      });
      // Headers now, so a client knows its subscription is live before the first reload.
      call.sendMetadata(new Metadata());
      const stop = () => unsubscribe();
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },
  };
}
