import type { Logger } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import type { CompiledRoute } from '../rest/rest-routes.js';
import { useRest } from '../rest/use-rest.js';
import { useAudit } from './use-audit.js';
import { useAuthorize } from './use-authorize.js';
import { useDisableIntrospection } from './use-disable-introspection.js';
import { useRateLimit } from './use-rate-limit.js';
import { useValidateToken } from './use-validate-token.js';

export interface ChainOptions {
  sidecar: SidecarClient;
  logger: Logger;
  graphqlEndpoint: string;
  /** The internal console: introspection allowed, anonymous introspection admitted, no REST. */
  console: boolean;
  restRoutes: CompiledRoute[];
  maxBodyBytes: number;
}

/**
 * The request path of ARCHITECTURE §2 as one ordered list. Order matters:
 * - useAudit first, so its onResponse sees every response, including ones the token check ends early;
 * - useValidateToken before useRest: onRequest hooks run in order, and REST must not run unauthenticated;
 * - useAuthorize before useRateLimit: a denied request does not spend the client's budget.
 */
export function requestChain(options: ChainOptions): Plugin<GatewayContext>[] {
  return [
    useAudit(options),
    useValidateToken({ ...options, allowAnonymous: options.console }),
    ...(options.console ? [] : [useDisableIntrospection() as Plugin<GatewayContext>, useRest(options)]),
    useAuthorize(options),
    useRateLimit(options),
  ];
}
