import SchemaBuilder from '@pothos/core';
import { valueFromASTUntyped } from 'graphql';
import type { GatewayContext } from '../context.js';

/** What the authorization plugin needs to know about each root field. */
export interface AuthzExtension {
  resource: string;
  action: 'read' | 'list' | 'create' | 'update' | 'delete' | 'evaluate';
}

export const builder = new SchemaBuilder<{
  Context: GatewayContext;
  Scalars: { DateTime: { Input: string; Output: string }; JSON: { Input: unknown; Output: unknown } };
  DefaultFieldNullability: false;
}>({ defaultFieldNullability: false });

builder.scalarType('DateTime', {
  description: 'An RFC 3339 date-time in UTC, e.g. 2026-12-03T10:15:30.000Z.',
  serialize: (value) => new Date(value).toISOString(),
  parseValue: (value) => {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
      throw new TypeError('DateTime must be an RFC 3339 string');
    return new Date(value).toISOString();
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value: object, array, string, number, boolean or null.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});

/** Marks a root field with the resource and action the policy authorizes. */
export function authz(resource: string, action: AuthzExtension['action']): { authz: AuthzExtension } {
  return { authz: { resource, action } };
}
