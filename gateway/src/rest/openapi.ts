import {
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLOutputType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import type { CompiledRoute } from './rest-routes.js';

type JsonSchema = Record<string, unknown>;

const SCALARS: Record<string, JsonSchema> = {
  String: { type: 'string' },
  ID: { type: 'string' },
  Int: { type: 'integer' },
  Float: { type: 'number' },
  Boolean: { type: 'boolean' },
  DateTime: { type: 'string', format: 'date-time' },
};

/**
 * The OpenAPI 3.1 document of the REST face, derived from the same schema and route
 * table the gateway executes — never written by hand.
 */
export function buildOpenApi(routes: CompiledRoute[]): JsonSchema {
  const components: Record<string, JsonSchema> = {};

  const ref = (named: GraphQLNamedType): JsonSchema => {
    const scalar = SCALARS[named.name];
    if (scalar) return scalar;
    if (isEnumType(named)) return { type: 'string', enum: named.getValues().map((v) => v.name) };
    if (!components[named.name]) {
      components[named.name] = {}; // placeholder first: types may refer to themselves
      const fields = isObjectType(named) || isInputObjectType(named) ? Object.values(named.getFields()) : [];
      const usable = isObjectType(named)
        ? fields.filter((f) => !('args' in f) || f.args.length === 0)
        : fields;
      components[named.name] = {
        type: 'object',
        ...(named.description ? { description: named.description } : {}),
        properties: Object.fromEntries(usable.map((f) => [f.name, typeSchema(f.type)])),
        required: usable.filter((f) => isNonNullType(f.type)).map((f) => f.name),
        additionalProperties: !isInputObjectType(named),
      };
    }
    return { $ref: `#/components/schemas/${named.name}` };
  };

  const typeSchema = (type: GraphQLInputType | GraphQLOutputType): JsonSchema => {
    if (isNonNullType(type)) return nonNull(type.ofType);
    const inner = nonNull(type);
    return inner.$ref ? { oneOf: [inner, { type: 'null' }] } : { ...inner, type: [inner.type, 'null'] };
  };
  const nonNull = (type: GraphQLInputType | GraphQLOutputType): JsonSchema =>
    isListType(type) ? { type: 'array', items: typeSchema(type.ofType) } : ref(getNamedType(type));

  const problem = { $ref: '#/components/schemas/Problem' };
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/problem+json': { schema: problem } },
  });

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters = [
      ...route.pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...route.queryArgs.map((a) => ({
        name: a.name,
        in: 'query',
        required: false,
        schema: nonNull(a.type),
        description: a.description ?? undefined,
      })),
    ];
    const bodyArg = route.fieldDef.args.find((a) => a.name === route.body);
    const status = String(route.status ?? 200);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: route.fieldName,
      summary: route.summary,
      ...(route.fieldDef.description ? { description: route.fieldDef.description } : {}),
      security: [{ bearerAuth: [] }],
      parameters,
      ...(bodyArg
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: nonNull(bodyArg.type) } },
            },
          }
        : {}),
      responses: {
        [status]:
          status === '204'
            ? { description: 'Done' }
            : {
                description: 'Success',
                content: { 'application/json': { schema: nonNull(route.fieldDef.type) } },
              },
        400: errorResponse('Invalid input; `field` names the problem'),
        401: errorResponse('Missing or invalid bearer token'),
        403: errorResponse('Denied by policy'),
        ...(route.pathParams.length ? { 404: errorResponse('Not found in your tenant') } : {}),
        429: errorResponse('Rate limit exceeded; see Retry-After'),
        503: errorResponse('Authorization service unavailable; see Retry-After'),
      },
    };
  }

  components.Problem = {
    type: 'object',
    description: 'RFC 9457 problem details',
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      code: { type: 'string' },
      field: { type: 'string' },
    },
    required: ['type', 'title', 'status', 'detail', 'code'],
  };
  const sorted = Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: '3.1.0',
    info: {
      title: 'cpod API',
      version: '1.0.0',
      description: 'REST face of the cpod GraphQL schema. Tokens: POST /v1/oauth/token.',
    },
    paths,
    components: {
      schemas: sorted,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
