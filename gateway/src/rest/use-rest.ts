import { ApiError, problemResponse, readJsonBody } from '@cpod/runtime';
import { type GraphQLError, getNamedType } from 'graphql';
import type { Plugin, YogaServerInstance } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { fromGraphQLError } from '../errors.js';
import type { AccessPlan, Admission } from '../plugins/admission.js';
import { type RequestState, requestState } from '../request-state.js';
import { type CompiledRoute, matchRoute, snakeKeys, toCamel } from './rest-routes.js';

/** A tenant given by the caller is ignored everywhere: the tenant comes from the token only. */
const IGNORED_PARAMS = new Set(['tenantId', 'tenant_id']);

function queryVariables(route: CompiledRoute, url: URL): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    if (IGNORED_PARAMS.has(key)) continue;
    const argName = route.snakeCase ? toCamel(key) : key;
    const arg = route.queryArgs.find((a) => a.name === argName);
    if (!arg) throw new ApiError('ERR_VALIDATION_FAILED', `unknown query parameter ${key}`, { field: key });
    const values = url.searchParams.getAll(key);
    if (values.length > 1)
      throw new ApiError('ERR_VALIDATION_FAILED', `query parameter ${key} is repeated`, { field: key });
    const value = values[0] ?? '';
    const type = getNamedType(arg.type).name;
    if (type === 'Int') {
      if (!/^-?\d{1,10}$/.test(value))
        throw new ApiError('ERR_VALIDATION_FAILED', `${key}: must be an integer`, { field: key });
      vars[argName] = Number(value);
    } else if (type === 'Boolean') {
      if (value !== 'true' && value !== 'false') {
        throw new ApiError('ERR_VALIDATION_FAILED', `${key}: must be true or false`, { field: key });
      }
      vars[argName] = value === 'true';
    } else {
      vars[argName] = value;
    }
  }
  return vars;
}

async function bodyVariable(
  route: CompiledRoute,
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  if (!route.body) return {};
  const body = await readJsonBody(request, maxBytes);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('ERR_VALIDATION_FAILED', 'request body must be a JSON object', { field: 'body' });
  }
  const input = Object.fromEntries(Object.entries(body).filter(([key]) => !IGNORED_PARAMS.has(key)));
  return { [route.body]: input };
}

/**
 * REST as a second face of the same schema: each route runs its generated GraphQL
 * operation through yoga's own envelop instance, so the context, authorization, rate
 * limit and error masking plugins are exactly the ones GraphQL requests go through.
 */
export function useRest(options: {
  restRoutes: CompiledRoute[];
  maxBodyBytes: number;
  /** The request's sidecar check (plugins/admission.ts), run before any query parameter or body is read. */
  admit: (state: RequestState, plan: AccessPlan) => Promise<Admission>;
}): Plugin<GatewayContext> {
  let yoga: YogaServerInstance<Record<string, unknown>, GatewayContext> | undefined;
  return {
    onYogaInit({ yoga: instance }) {
      yoga = instance as unknown as YogaServerInstance<Record<string, unknown>, GatewayContext>;
    },
    async onRequest({ request, url, serverContext, endResponse }) {
      const match = matchRoute(options.restRoutes, request.method, url.pathname);
      if (match.kind !== 'route' || !yoga) return;
      const { route, params } = match;
      const state = requestState(request);
      const authzExt = route.fieldDef.extensions?.authz as { resource: string; action: string } | undefined;
      state.action = authzExt ? `${authzExt.resource}.${authzExt.action}` : route.fieldName;
      state.resource = `${authzExt?.resource ?? route.fieldName}${params.id ? `/${params.id}` : ''}`;
      const plan: AccessPlan = authzExt
        ? { checks: [{ action: authzExt.action, resource: authzExt.resource }] }
        : { checks: [], unannotated: route.fieldName };
      const admission = await options.admit(state, plan);
      if (admission.error) return endResponse(problemResponse(admission.error, url.pathname));
      try {
        const variableValues = {
          ...queryVariables(route, url),
          ...params,
          ...(await bodyVariable(route, request, options.maxBodyBytes)),
        };
        const enveloped = yoga.getEnveloped({ ...serverContext, request });
        const contextValue = await enveloped.contextFactory();
        const result = await enveloped.execute({
          schema: enveloped.schema,
          document: route.document,
          contextValue,
          variableValues,
          operationName: route.operationName,
        });
        if ('errors' in result && result.errors?.length) {
          return endResponse(
            problemResponse(fromGraphQLError(result.errors[0] as GraphQLError), url.pathname),
          );
        }
        const data = (result as { data?: Record<string, unknown> | null }).data?.[route.fieldName];
        if (data === null && route.nullIsNotFound) {
          return endResponse(
            problemResponse(new ApiError('ERR_RESOURCE_NOT_FOUND', 'not found'), url.pathname),
          );
        }
        if (route.status === 204) return endResponse(new Response(null, { status: 204 }));
        endResponse(Response.json(route.snakeCase ? snakeKeys(data) : data, { status: route.status ?? 200 }));
      } catch (err) {
        endResponse(problemResponse(err, url.pathname));
      }
    },
  };
}
