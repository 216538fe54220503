/**
 * Redirect URIs are compared as the exact strings that were registered: no normalisation,
 * no prefix and no wildcard, because every leniency here is an open redirect that hands
 * authorization codes to someone else.
 */

const LOOPBACK_HTTP_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
// RFC 8252 §7.3: native apps listen on an ephemeral loopback port chosen at run time, so for
// IP-literal loopback URIs (not `localhost`, which a hosts file can point elsewhere) only the
// port may differ. Matched on the raw string: scheme, host, path and query stay exact.
const LOOPBACK_IP_URI = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?].*)?$/;

/** Why a URI may not be registered, or undefined when it may. */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri.includes('#')) return 'must not contain a fragment';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URI';
  }
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HTTP_HOSTS.has(url.hostname)) return undefined;
  return 'must use https (http only for 127.0.0.1, [::1] or localhost)';
}

/** Whether `requested` names one of `registered`: exact match, or a loopback IP URI on another port. */
export function matchesRegisteredRedirectUri(requested: string, registered: readonly string[]): boolean {
  if (registered.includes(requested)) return true;
  const asked = LOOPBACK_IP_URI.exec(requested);
  if (!asked || !validPort(asked[2])) return false;
  return registered.some((uri) => {
    const known = LOOPBACK_IP_URI.exec(uri);
    return known !== null && known[1] === asked[1] && (known[3] ?? '') === (asked[3] ?? '');
  });
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}
