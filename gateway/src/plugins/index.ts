import type { Logger } from '@cpod/runtime';
import type { AuditQueue, SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import type { CompiledRoute } from '../rest/rest-routes.js';
import { useRest } from '../rest/use-rest.js';
import { admit } from './admission.js';
import { useAudit } from './use-audit.js';
import { useAuthorize } from './use-authorize.js';
import { useDisableIntrospection } from './use-disable-introspection.js';
import { useTracing } from './use-tracing.js';
import { useValidateToken } from './use-validate-token.js';

export interface ChainOptions {
  sidecar: SidecarClient;
  logger: Logger;
  /** Where useAudit queues events; the gateway server flushes it on close. */
  auditQueue?: AuditQueue;
  graphqlEndpoint: string;
  /** The internal console: introspection allowed, anonymous introspection admitted, no REST. */
  console: boolean;
  restRoutes: CompiledRoute[];
  maxBodyBytes: number;
  /** Benchmark only (bench/rate-limit-bench.mjs); see GatewayDeps.benchmarkWithout. */
  benchmarkWithout?: { rateLimit?: boolean; audit?: boolean };
}

/**
 * The request path of ARCHITECTURE §2 as one ordered list. Order matters:
 * - useAudit first, so its onResponse sees every response, including ones the token check ends early;
 * - useValidateToken before useRest: onRequest hooks run in order, and REST needs the bearer token read;
 * - the sidecar is asked once per request (admission.ts: token, policy, then rate limit, so a
 *   denied request does not spend the client's budget), by useRest for REST and useAuthorize for GraphQL.
 */
export function requestChain(options: ChainOptions): Plugin<GatewayContext>[] {
  const rateLimit = !options.benchmarkWithout?.rateLimit;
  return [
    // First: its request span wraps every hook wherever it sits, but being first makes it the
    // outermost instrumentation and lets it record the status before useAudit's onResponse.
    useTracing(options),
    ...(options.benchmarkWithout?.audit ? [] : [useAudit(options)]),
    useValidateToken({ ...options, allowAnonymous: options.console }),
    ...(options.console
      ? []
      : [
          useDisableIntrospection() as Plugin<GatewayContext>,
          useRest({ ...options, admit: (state, plan) => admit(options.sidecar, state, plan, { rateLimit }) }),
        ]),
    useAuthorize({ sidecar: options.sidecar, rateLimit }),
  ];
}
