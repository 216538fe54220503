import {
  type DocumentNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isLeafType,
  isObjectType,
  parse,
} from 'graphql';

/** One REST route, declared as the GraphQL root field it executes. */
export interface RestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Express-style path; `:name` segments fill the argument of that name. */
  path: string;
  field: `Query.${string}` | `Mutation.${string}`;
  /** The argument that receives the JSON request body. */
  body?: string;
  /** Success status (default 200); 204 sends no body. */
  status?: 200 | 201 | 204;
  /** A null result means 404 (for lookups by id). */
  nullIsNotFound?: boolean;
  /** Query parameters and response keys in snake_case (the audit contract), mapped to camelCase arguments. */
  snakeCase?: boolean;
  summary: string;
}

export const REST_ROUTES: RestRoute[] = [
  {
    method: 'POST',
    path: '/v1/people',
    field: 'Mutation.createPerson',
    body: 'input',
    status: 201,
    summary: 'Create a person',
  },
  { method: 'GET', path: '/v1/people', field: 'Query.people', summary: 'List people (cursor pagination)' },
  {
    method: 'GET',
    path: '/v1/people/:id',
    field: 'Query.person',
    nullIsNotFound: true,
    summary: 'Get a person',
  },
  {
    method: 'PATCH',
    path: '/v1/people/:id',
    field: 'Mutation.updatePerson',
    body: 'input',
    summary: 'Update a person',
  },
  {
    method: 'DELETE',
    path: '/v1/people/:id',
    field: 'Mutation.deletePerson',
    status: 204,
    summary: 'Delete a person',
  },
  {
    method: 'GET',
    path: '/v1/audit',
    field: 'Query.audit',
    snakeCase: true,
    summary: 'Audit records of your tenant; verify_chain=true checks the chain',
  },
  {
    method: 'POST',
    path: '/v1/audit/events',
    field: 'Mutation.emitAuditEvent',
    body: 'input',
    status: 201,
    snakeCase: true,
    summary: 'Append an application event to your tenant audit chain (scope audit:write)',
  },
  {
    method: 'POST',
    path: '/v1/policy/evaluate',
    field: 'Query.evaluatePolicy',
    body: 'input',
    summary: 'Evaluate a policy rule against an input (scope policy:evaluate)',
  },
  {
    method: 'POST',
    path: '/v1/rate-limits/check',
    field: 'Mutation.checkRateLimit',
    body: 'input',
    summary: 'Take one call from a custom rate limit key of your tenant (scope rate_limits:write)',
  },
];

export const toCamel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
export const toSnake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [toSnake(k), snakeKeys(v)]));
}

export interface CompiledRoute extends RestRoute {
  fieldName: string;
  fieldDef: GraphQLField<unknown, unknown>;
  pattern: RegExp;
  pathParams: string[];
  /** Arguments filled from the query string: neither path nor body. */
  queryArgs: GraphQLArgument[];
  operationName: string;
  document: DocumentNode;
}

// Selects every argument-free field of the result, nested objects included, so a REST
// response is the whole resource exactly as GraphQL would return it.
function selection(type: GraphQLOutputType, depth: number): string {
  const named = getNamedType(type);
  if (isLeafType(named) || !isObjectType(named) || depth > 4) return '';
  const fields = Object.values(named.getFields()).filter((f) => f.args.length === 0);
  return `{ ${fields.map((f) => `${f.name} ${selection(f.type, depth + 1)}`).join(' ')} }`;
}

/** Builds the operation document of each route from the schema; fails at start-up on a bad table. */
export function compileRoutes(schema: GraphQLSchema, routes: RestRoute[] = REST_ROUTES): CompiledRoute[] {
  return routes.map((route) => {
    const [kind, fieldName = ''] = route.field.split('.') as ['Query' | 'Mutation', string];
    const root = kind === 'Query' ? schema.getQueryType() : schema.getMutationType();
    const fieldDef = root?.getFields()[fieldName];
    if (!fieldDef) throw new Error(`REST route ${route.method} ${route.path}: no field ${route.field}`);
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] ?? '');
    for (const name of [...pathParams, ...(route.body ? [route.body] : [])]) {
      if (!fieldDef.args.some((a) => a.name === name))
        throw new Error(`REST route ${route.path}: ${route.field} has no argument ${name}`);
    }
    const queryArgs = fieldDef.args.filter((a) => !pathParams.includes(a.name) && a.name !== route.body);
    const operationName = `Rest${fieldName[0]?.toUpperCase()}${fieldName.slice(1)}`;
    const varDefs = fieldDef.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
    const argList = fieldDef.args.map((a) => `${a.name}: $${a.name}`).join(', ');
    const source = `${kind === 'Query' ? 'query' : 'mutation'} ${operationName}${varDefs ? `(${varDefs})` : ''} { ${fieldName}${argList ? `(${argList})` : ''} ${selection(fieldDef.type, 0)} }`;
    const pattern = new RegExp(`^${route.path.replace(/:(\w+)/g, '([^/]+)')}/?$`);
    return {
      ...route,
      fieldName,
      fieldDef,
      pattern,
      pathParams,
      queryArgs,
      operationName,
      document: parse(source),
    };
  });
}

export type RouteMatch =
  | { kind: 'route'; route: CompiledRoute; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'none' };

export function matchRoute(routes: CompiledRoute[], method: string, pathname: string): RouteMatch {
  const allow: string[] = [];
  for (const route of routes) {
    const m = route.pattern.exec(pathname);
    if (!m) continue;
    if (route.method !== method) {
      allow.push(route.method);
      continue;
    }
    let params: Record<string, string>;
    try {
      params = Object.fromEntries(
        route.pathParams.map((name, i) => [name, decodeURIComponent(m[i + 1] ?? '')]),
      );
    } catch {
      continue; // malformed percent-encoding: treat as no match
    }
    return { kind: 'route', route, params };
  }
  return allow.length ? { kind: 'method-not-allowed', allow } : { kind: 'none' };
}
