import type { TypedDocumentString } from './generated/graphql.js';

/** A GraphQL error as the gateway sends it; `extensions.code` is the platform's ERR_* code. */
export interface GraphQLErrorPayload {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

export class GraphQLRequestError extends Error {
  override readonly name = 'GraphQLRequestError';
  constructor(
    readonly status: number,
    readonly errors: GraphQLErrorPayload[],
  ) {
    super(errors.map((e) => e.message).join('; ') || `GraphQL request failed with status ${status}`);
  }

  /** The ERR_* code of the first error, e.g. `ERR_POLICY_DENIED`. */
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

export interface GraphQLTransport {
  /** POSTs a JSON body to the GraphQL endpoint with the client's token handling and retries. */
  postGraphQL(body: string): Promise<{ status: number; body: unknown }>;
}

/**
 * Executes the codegen-typed documents of `sdk/src/graphql/*.graphql` (or any typed
 * document) and returns typed data; any GraphQL error rejects with GraphQLRequestError.
 *
 * @example
 * import { CreatePersonDocument } from '@cpod/sdk';
 * const { createPerson } = await client.graphql.execute(CreatePersonDocument, { input: { name: 'Ada' } });
 */
export class GraphQLClient {
  constructor(private readonly transport: GraphQLTransport) {}

  async execute<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
  ): Promise<TResult> {
    const { status, body } = await this.transport.postGraphQL(
      JSON.stringify({ query: document.toString(), variables }),
    );
    const payload = body as { data?: TResult | null; errors?: GraphQLErrorPayload[] } | null;
    if (payload?.errors?.length) throw new GraphQLRequestError(status, payload.errors);
    if (!payload?.data)
      throw new GraphQLRequestError(status, [{ message: `no data in response (status ${status})` }]);
    return payload.data;
  }
}
