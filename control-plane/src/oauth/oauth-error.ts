/** RFC 6749 §5.2 error; rendered as `{error, error_description}`, never as problem+json. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
  | 'server_error';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  unsupported_token_type: 400,
  server_error: 500,
};

export interface OAuthErrorOptions {
  /** Overrides the code's usual status, e.g. 429 for a throttled client. */
  status?: number;
  headers?: Record<string, string>;
}

export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(description);
    this.status = options.status ?? STATUS[error];
    this.headers = options.headers ?? {};
  }
}

export function oauthErrorResponse(err: OAuthError, basicAuthUsed: boolean): Response {
  const headers = new Headers({
    ...err.headers,
    'content-type': 'application/json',
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  // RFC 6749 §5.2: a failed Basic authentication answers with the scheme's challenge.
  if (err.error === 'invalid_client') {
    headers.set('www-authenticate', basicAuthUsed ? 'Basic realm="cpod"' : 'Bearer realm="cpod"');
  }
  return new Response(JSON.stringify({ error: err.error, error_description: err.description }), {
    status: err.status,
    headers,
  });
}
