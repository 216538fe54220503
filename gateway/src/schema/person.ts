import { ApiError } from '@cpod/runtime';
import type { GatewayContext } from '../context.js';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type Person,
  type PersonPage,
} from '../people/person-repository.js';
import { authz, builder } from './builder.js';

const PersonRef = builder.objectRef<Person>('Person').implement({
  description: 'A person record, owned by the tenant of the token that created it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    phone: t.exposeString('phone', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

interface Edge {
  cursor: string;
  node: Person;
}

const EdgeRef = builder.objectRef<Edge>('PersonEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: PersonRef, resolve: (edge) => edge.node }),
  }),
});

const PageInfoRef = builder.objectRef<PersonPage>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.string({ nullable: true, resolve: (page) => page.cursors.at(-1) ?? null }),
  }),
});

const ConnectionRef = builder.objectRef<PersonPage>('PersonConnection').implement({
  description: 'A page of people in creation order (Relay cursor connection).',
  fields: (t) => ({
    edges: t.field({
      type: [EdgeRef],
      resolve: (page) => page.items.map((node, i) => ({ node, cursor: page.cursors[i] ?? '' })),
    }),
    nodes: t.field({ type: [PersonRef], resolve: (page) => page.items }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (page) => page }),
  }),
});

const CreatePersonInput = builder.inputType('CreatePersonInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    email: t.string(),
    phone: t.string(),
  }),
});

const UpdatePersonInput = builder.inputType('UpdatePersonInput', {
  description: 'Fields to change; null clears email or phone.',
  fields: (t) => ({
    name: t.string(),
    email: t.string(),
    phone: t.string(),
  }),
});

function tenant(ctx: GatewayContext): string {
  // The chain sets the tenant from validated claims only; no tenant means no access.
  if (!ctx.tenantId) throw new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required');
  return ctx.tenantId;
}

function notFound(): ApiError {
  return new ApiError('ERR_RESOURCE_NOT_FOUND', 'person not found');
}

builder.queryType({
  fields: (t) => ({
    person: t.field({
      type: PersonRef,
      nullable: true,
      description: 'A person by id; null when it does not exist in your tenant.',
      args: { id: t.arg.id({ required: true }) },
      extensions: authz('people', 'read'),
      resolve: (_root, args, ctx) => ctx.people.get(tenant(ctx), String(args.id)),
    }),
    people: t.field({
      type: ConnectionRef,
      description: `People of your tenant, oldest first; first defaults to ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}.`,
      args: { first: t.arg.int(), after: t.arg.string() },
      extensions: authz('people', 'list'),
      resolve: (_root, args, ctx) => ctx.people.list(tenant(ctx), args),
    }),
  }),
});

builder.mutationType({
  fields: (t) => ({
    createPerson: t.field({
      type: PersonRef,
      args: { input: t.arg({ type: CreatePersonInput, required: true }) },
      extensions: authz('people', 'create'),
      resolve: (_root, args, ctx) => ctx.people.create(tenant(ctx), args.input),
    }),
    updatePerson: t.field({
      type: PersonRef,
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdatePersonInput, required: true }) },
      extensions: authz('people', 'update'),
      resolve: async (_root, args, ctx) => {
        const input = Object.fromEntries(Object.entries(args.input).filter(([, v]) => v !== undefined));
        const person = await ctx.people.update(tenant(ctx), String(args.id), input);
        if (!person) throw notFound();
        return person;
      },
    }),
    deletePerson: t.field({
      type: 'Boolean',
      args: { id: t.arg.id({ required: true }) },
      extensions: authz('people', 'delete'),
      resolve: async (_root, args, ctx) => {
        if (!(await ctx.people.delete(tenant(ctx), String(args.id)))) throw notFound();
        return true;
      },
    }),
  }),
});
