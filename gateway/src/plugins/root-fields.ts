import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type SelectionSetNode,
} from 'graphql';
import type { AuthzExtension } from '../schema/builder.js';

export interface RootField {
  name: string;
  /** undefined for introspection fields (__schema, __type, __typename). */
  authz: AuthzExtension | undefined;
  introspection: boolean;
}

/** The root fields an operation selects, through fragments, with their authorization metadata. */
export function rootFields(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName?: string | null,
): RootField[] {
  const operation = getOperationAST(document, operationName);
  if (!operation) return [];
  const rootType =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions)
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const names = new Set<string>();
  const visit = (set: SelectionSetNode, seen: Set<string>) => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) names.add(sel.name.value);
      else if (sel.kind === Kind.INLINE_FRAGMENT) visit(sel.selectionSet, seen);
      else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const fragment = fragments.get(sel.name.value);
        if (fragment) visit(fragment.selectionSet, seen);
      }
    }
  };
  visit(operation.selectionSet, new Set());
  const fields = rootType?.getFields() ?? {};
  return [...names].map((name) => {
    const field = fields[name] as GraphQLField<unknown, unknown> | undefined;
    return {
      name,
      authz: field?.extensions?.authz as AuthzExtension | undefined,
      introspection: name.startsWith('__'),
    };
  });
}
