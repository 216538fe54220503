import { ApiError, type ApiErrorCode } from '@cpod/runtime';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';

/** The one ApiErrorCode → gRPC status table. Clients read the exact code from `cpod-error-code`. */
export const GRPC_STATUS: Record<ApiErrorCode, status> = {
  ERR_AUTH_MISSING_TOKEN: status.UNAUTHENTICATED,
  ERR_AUTH_INVALID_TOKEN: status.UNAUTHENTICATED,
  ERR_AUTH_REVOKED_TOKEN: status.UNAUTHENTICATED,
  ERR_AUTH_ADMIN_REQUIRED: status.UNAUTHENTICATED,
  ERR_POLICY_DENIED: status.PERMISSION_DENIED,
  ERR_POLICY_ERROR: status.INTERNAL,
  ERR_POLICY_INVALID: status.INVALID_ARGUMENT,
  ERR_POLICY_TIMEOUT: status.DEADLINE_EXCEEDED,
  ERR_RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  ERR_VALIDATION_FAILED: status.INVALID_ARGUMENT,
  ERR_REQUEST_MALFORMED: status.INVALID_ARGUMENT,
  ERR_REQUEST_TOO_LARGE: status.INVALID_ARGUMENT,
  ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: status.INVALID_ARGUMENT,
  ERR_REQUEST_METHOD_NOT_ALLOWED: status.UNIMPLEMENTED,
  ERR_RESOURCE_NOT_FOUND: status.NOT_FOUND,
  ERR_RESOURCE_CONFLICT: status.ALREADY_EXISTS,
  ERR_STORE_CONFLICT: status.ABORTED,
  ERR_STORE_UNAVAILABLE: status.UNAVAILABLE,
  ERR_SIDECAR_UNAVAILABLE: status.UNAVAILABLE,
  ERR_UPSTREAM_UNAVAILABLE: status.UNAVAILABLE,
  ERR_INTERNAL: status.INTERNAL,
};

export const ERROR_CODE_KEY = 'cpod-error-code';

export function toServiceError(err: unknown): Partial<ServiceError> {
  const error = ApiError.from(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, error.code);
  return { code: GRPC_STATUS[error.code], details: error.publicMessage, metadata };
}

export function unimplemented(what: string, issue: number): Partial<ServiceError> {
  return {
    code: status.UNIMPLEMENTED,
    details: `${what} is not implemented yet (tracked in issue #${issue})`,
  };
}
