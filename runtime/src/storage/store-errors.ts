import { ApiError } from '../errors.js';

/** `scheme://user:password@host/db` → `scheme://host/db`; also works for multi-host MongoDB URLs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1');
}

/** The strings of a URL that must never appear in an error message: its userinfo and password. */
function urlSecrets(url: string): string[] {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(url)?.[1];
  if (!userinfo) return [];
  const secrets = [userinfo];
  const colon = userinfo.indexOf(':');
  if (colon >= 0) {
    const password = userinfo.slice(colon + 1);
    if (password !== '') {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // A malformed escape cannot be the decoded form of anything; the raw one is enough.
      }
    }
  }
  // Longest first, so a password inside the userinfo does not break the userinfo's replacement.
  return secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** Removes the URL (in any form) and its credentials from a driver's message. */
export function scrubMessage(message: string, url: string): string {
  let out = message.split(url).join(redactUrl(url));
  for (const secret of urlSecrets(url)) out = out.split(secret).join('[redacted]');
  return out;
}

/**
 * An ERR_STORE_UNAVAILABLE error for a failed connection. The driver's error is not attached
 * as `cause`: loggers serialise causes, and some drivers echo the connection string in theirs.
 */
export function storeUnavailable(backend: string, url: string, err: unknown): ApiError {
  const detail = err instanceof Error ? err.message : String(err);
  const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? ` (${err.code})` : '';
  return new ApiError(
    'ERR_STORE_UNAVAILABLE',
    `${backend} at ${redactUrl(url)} is unavailable: ${scrubMessage(detail, url)}${code}`,
  );
}

export function storeConflict(collection: string, id: string): ApiError {
  return new ApiError(
    'ERR_STORE_CONFLICT',
    `a document with id ${JSON.stringify(id)} already exists in ${collection}`,
  );
}
