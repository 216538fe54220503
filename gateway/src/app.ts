import { ApiError, type DocumentStore, type Logger, problemResponse } from '@cpod/runtime';
import type { AuditQueue, SidecarClient } from '@cpod/sdk';
import { createYoga } from 'graphql-yoga';
import type { GatewayContext } from './context.js';
import { maskError } from './errors.js';
import { createOAuthProxy, PROXIED_PATHS } from './oauth-proxy.js';
import { PersonRepository } from './people/person-repository.js';
import { requestChain } from './plugins/index.js';
import { buildOpenApi } from './rest/openapi.js';
import { compileRoutes, matchRoute } from './rest/rest-routes.js';
import { useRest } from './rest/use-rest.js';
import { schema } from './schema/index.js';

export const GRAPHQL_ENDPOINT = '/graphql';

export interface GatewayDeps {
  store: DocumentStore;
  sidecar: SidecarClient;
  logger: Logger;
  /** The audit events' bounded queue (one per process, flushed on close); useAudit makes one when absent. */
  auditQueue?: AuditQueue;
  controlPlaneUrl: string;
  maxBodyBytes: number;
  /** Readiness of the other processes; /readyz is 200 only when all are ready. */
  readiness: () => Promise<Record<string, boolean>>;
  /**
   * Benchmark baseline only (bench/bare-gateway.mjs): serve the same yoga server and REST
   * routes with the sidecar chain switched off, every request in this tenant. There is no
   * environment variable for it: it can only be set in code.
   */
  benchmarkWithoutChain?: { tenant: string };
  /**
   * Benchmark only (bench/rate-limit-bench.mjs): the full chain minus the rate limit and/or
   * audit step, to measure what they cost. Code-only like benchmarkWithoutChain.
   */
  benchmarkWithout?: { rateLimit?: boolean; audit?: boolean };
}

export interface Gateway {
  /**
   * The public listener: REST, GraphQL without introspection, OAuth proxy, health. The peer
   * address becomes the proxied OAuth requests' X-Forwarded-For (failure throttling per source).
   */
  fetch(request: Request, connection?: { remoteAddress: string }): Promise<Response>;
  /** The internal console listener: GraphiQL and introspection. */
  consoleFetch(request: Request): Promise<Response>;
  openApi: Record<string, unknown>;
}

export function createGateway(deps: GatewayDeps): Gateway {
  const people = new PersonRepository(deps.store);
  const restRoutes = compileRoutes(schema);
  const openApi = buildOpenApi(restRoutes);
  const proxy = createOAuthProxy(deps);

  const makeYoga = (isConsole: boolean) =>
    createYoga<Record<string, unknown>, GatewayContext>({
      schema,
      graphqlEndpoint: GRAPHQL_ENDPOINT,
      graphiql: isConsole ? { title: 'cpod console' } : false,
      landingPage: false,
      batching: false,
      maxRequestBodySize: deps.maxBodyBytes,
      healthCheckEndpoint: '/yoga-health',
      logging: false,
      maskedErrors: { maskError },
      context: ({ request }) => ({
        request,
        people,
        sidecar: deps.sidecar,
        tenantId: deps.benchmarkWithoutChain?.tenant,
      }),
      plugins: deps.benchmarkWithoutChain
        ? // The baseline has no chain: every request is admitted.
          [useRest({ restRoutes, maxBodyBytes: deps.maxBodyBytes, admit: async () => ({}) })]
        : requestChain({ ...deps, graphqlEndpoint: GRAPHQL_ENDPOINT, console: isConsole, restRoutes }),
    });
  const publicYoga = makeYoga(false);
  const consoleYoga = makeYoga(true);

  const health = async (path: string): Promise<Response | undefined> => {
    if (path === '/healthz') return Response.json({ status: 'ok' });
    if (path !== '/readyz') return undefined;
    const checks = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return Response.json({ status: ready ? 'ready' : 'not ready', checks }, { status: ready ? 200 : 503 });
  };

  return {
    openApi,
    async fetch(request, connection) {
      const url = new URL(request.url);
      try {
        const early = await health(url.pathname);
        if (early) return early;
        if (url.pathname === '/openapi.json' && request.method === 'GET') return Response.json(openApi);
        if (PROXIED_PATHS.has(url.pathname)) return await proxy(request, connection?.remoteAddress);
        if (url.pathname === GRAPHQL_ENDPOINT) return await publicYoga.fetch(request);
        const match = matchRoute(restRoutes, request.method, url.pathname);
        if (match.kind === 'route') return await publicYoga.fetch(request);
        if (match.kind === 'method-not-allowed') {
          return problemResponse(
            new ApiError('ERR_REQUEST_METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, {
              headers: { allow: match.allow.join(', ') },
            }),
            url.pathname,
          );
        }
        return problemResponse(
          new ApiError('ERR_RESOURCE_NOT_FOUND', `no route for ${url.pathname}`),
          url.pathname,
        );
      } catch (err) {
        if (ApiError.from(err).status >= 500)
          deps.logger.error('request failed', { err, path: url.pathname });
        return problemResponse(err, url.pathname);
      }
    },
    async consoleFetch(request) {
      const url = new URL(request.url);
      const early = await health(url.pathname);
      if (early) return early;
      if (url.pathname === '/') return Response.redirect(new URL(GRAPHQL_ENDPOINT, url), 302);
      if (url.pathname === GRAPHQL_ENDPOINT) return consoleYoga.fetch(request);
      return problemResponse(new ApiError('ERR_RESOURCE_NOT_FOUND', `no route for ${url.pathname}`));
    },
  };
}
