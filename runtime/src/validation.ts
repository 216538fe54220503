import type { z } from 'zod';
import { ApiError } from './errors.js';

/**
 * Parses untrusted input with a zod schema; the first problem becomes a 400 naming the
 * field, so callers learn exactly what to fix.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : undefined;
  let message = issue?.message ?? 'invalid input';
  if (issue?.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
  return fail(field ? `${field}: ${message}` : message, field);
}

function fail(message: string, field: string | undefined): never {
  throw new ApiError('ERR_VALIDATION_FAILED', message, field ? { field } : {});
}

/** Reads a JSON body with a size cap; malformed JSON and wrong content types are 4xx, never 500. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError('ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE', 'expected content-type application/json');
  }
  const text = await readTextBody(request, maxBytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('ERR_REQUEST_MALFORMED', 'request body is not valid JSON');
  }
}

export async function readTextBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('ERR_REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
}
