import { ApiError, isApiErrorCode } from '@cpod/runtime';
import { SidecarError } from '@cpod/sdk';
import { GraphQLError } from 'graphql';
import { sidecarUnavailable } from './plugins/render-error.js';

/**
 * GraphQL face of ApiError: `extensions.code` is the same ERR_* code REST puts in its
 * problem+json, and `extensions.http` tells yoga (and the REST renderer) the status and
 * headers.
 */
export function toGraphQLError(err: unknown, located?: GraphQLError): GraphQLError {
  if (err instanceof GraphQLError && err.extensions.code) return err;
  const error = ApiError.from(err);
  return new GraphQLError(error.publicMessage, {
    nodes: located?.nodes,
    path: located?.path,
    originalError: error.expose ? undefined : error,
    extensions: {
      code: error.code,
      ...(error.field && error.expose ? { field: error.field } : {}),
      http: { status: error.status, headers: error.headers },
    },
  });
}

/** The ApiError a GraphQL error stands for, for the REST renderer. */
export function fromGraphQLError(err: GraphQLError): ApiError {
  const ext = err.extensions as {
    code?: string;
    field?: string;
    http?: { status?: number; headers?: Record<string, string> };
  };
  if (err.originalError instanceof ApiError) return err.originalError;
  if (typeof ext.code === 'string' && ext.code.startsWith('ERR_')) {
    return new ApiError(ext.code as ApiError['code'], err.message, {
      field: ext.field,
      headers: ext.http?.headers,
    });
  }
  // Variable coercion and validation errors from graphql-js: bad input, named in the message.
  if (ext.http?.status === 400 || !err.originalError) {
    return new ApiError('ERR_VALIDATION_FAILED', err.message, { field: fieldFromMessage(err.message) });
  }
  return ApiError.from(err.originalError);
}

// graphql-js names the offending path like: Variable "$input" got invalid value 1 at "input.name"; ...
function fieldFromMessage(message: string): string | undefined {
  const at = /at "(?:\w+\.)?([\w.[\]]+)"/.exec(message)?.[1];
  if (at) return at;
  return (
    /Field "(\w+)" (?:is not defined|of required type)/.exec(message)?.[1] ??
    /field "\w+\.(\w+)"/i.exec(message)?.[1]
  );
}

/**
 * yoga's error mask: an ApiError thrown by a resolver keeps its code and status (and its
 * message when exposed); anything else becomes a generic ERR_INTERNAL without details.
 */
export function maskError(error: unknown): GraphQLError {
  const located = error instanceof GraphQLError ? error : undefined;
  const original = located ? (located.originalError ?? located) : error;
  // Without a path the error did not come from a resolver: graphql-js rejected the
  // variables (a scalar refused a value). That is the caller's input, not our failure.
  if (located && !located.path && !located.extensions.code && !(located.originalError instanceof ApiError)) {
    return toGraphQLError(
      new ApiError('ERR_VALIDATION_FAILED', located.message, { field: fieldFromMessage(located.message) }),
      located,
    );
  }
  if (original instanceof GraphQLError && !original.originalError) return original;
  return toGraphQLError(original instanceof GraphQLError ? original.originalError : original, located);
}

/**
 * A failed sidecar call as the ApiError it stands for: the sidecar's own code (sent in the
 * `cpod-error-code` trailer) when it answered, the fail-closed 503 when it could not be reached.
 */
export function fromSidecarError(err: unknown): ApiError {
  if (!(err instanceof SidecarError)) return ApiError.from(err);
  if (isApiErrorCode(err.code)) {
    // Policy problems are the caller's to fix, so their message travels with them.
    const expose = err.code.startsWith('ERR_POLICY_') || undefined;
    return new ApiError(err.code, err.message, { expose, cause: err });
  }
  if (err.unavailable) return sidecarUnavailable(err);
  return ApiError.from(err);
}
