import { ApiError } from './errors.js';

/** RFC 9457 problem details, with our `code` (and `field` for validation errors) as extensions. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  field?: string;
  instance?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function toProblem(err: unknown, instance?: string): ProblemDetails {
  const error = ApiError.from(err);
  const problem: ProblemDetails = {
    type: `https://cpod.dev/problems/${error.code.slice(4).toLowerCase().replaceAll('_', '-')}`,
    title: error.title,
    status: error.status,
    detail: error.publicMessage,
    code: error.code,
  };
  if (error.field && error.expose) problem.field = error.field;
  if (instance) problem.instance = instance;
  return problem;
}

/** Renders any error as a problem+json Response; 5xx details never leave the process. */
export function problemResponse(err: unknown, instance?: string): Response {
  const error = ApiError.from(err);
  const headers = new Headers(error.headers);
  headers.set('content-type', PROBLEM_CONTENT_TYPE);
  return new Response(JSON.stringify(toProblem(error, instance)), { status: error.status, headers });
}
