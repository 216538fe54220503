import type {
  DryRunResponse,
  EvaluateResponse,
  PolicyServiceServer,
  PolicyUpdate,
  WatchPolicyUpdatesRequest,
} from '@cpod/proto';
import { ApiError, type Logger } from '@cpod/runtime';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { unimplemented } from '../grpc-errors.js';
import type { PolicyEngine, PolicyResult } from '../policy/policy-engine.js';
import { compileModules, RegoCompileError, RegoEvalError } from '../policy/rego/index.js';
import { unary } from '../unary.js';

const PATH = /^(data\.)?[A-Za-z_][\w]*([./][A-Za-z_][\w]*)*$/;

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

export function policyService(deps: { policy: () => PolicyEngine; logger: Logger }): PolicyServiceServer {
  return {
    evaluate: unary(deps.logger, 'Evaluate', async (request): Promise<EvaluateResponse> => {
      const path = normalisePolicyPath(request.path);
      const result = evaluateSafely(() => deps.policy().evaluate(path, request.input ?? null));
      return { defined: result.defined, result: result.value, ...interpret(result) };
    }),

    dryRun: unary(deps.logger, 'DryRun', async (request): Promise<DryRunResponse> => {
      const path = normalisePolicyPath(request.path);
      if (request.modules.length === 0)
        throw new ApiError('ERR_VALIDATION_FAILED', 'modules must not be empty', { field: 'modules' });
      try {
        const compiled = compileModules(
          request.modules.map((m) => ({ path: m.path || 'module.rego', source: m.source })),
        );
        const result = compiled.evaluate(path, request.input ?? null);
        return { defined: result.defined, result: result.value, ...interpret(result), errors: [] };
      } catch (err) {
        if (err instanceof RegoCompileError) {
          return {
            defined: false,
            result: undefined,
            allowed: false,
            errors: err.errors.map((e) => ({
              code: 'rego_compile_error',
              message: e.message,
              location: e.location,
            })),
          };
        }
        if (err instanceof RegoEvalError) {
          return {
            defined: false,
            result: undefined,
            allowed: false,
            errors: [{ code: err.code, message: err.message, location: '' }],
          };
        }
        throw err;
      }
    }),

    watchPolicyUpdates: (call: ServerWritableStream<WatchPolicyUpdatesRequest, PolicyUpdate>) => {
      call.emit('error', unimplemented('WatchPolicyUpdates (policy hot reload)', 3));
    },
  };
}

function evaluateSafely(run: () => PolicyResult): PolicyResult {
  try {
    return run();
  } catch (err) {
    if (err instanceof RegoEvalError)
      throw new ApiError('ERR_POLICY_ERROR', `${err.code}: ${err.message}`, { expose: true });
    throw err;
  }
}
