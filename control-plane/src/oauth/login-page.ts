/** Server-rendered pages of the authorization endpoint: no script, every value escaped. */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

/** Sent with every authorization-endpoint response, pages and redirects alike. */
/**
 * The login page's policy. `form-action` also governs where the form's answer may redirect
 * (browsers enforce it on the redirect chain), so it must name the client's redirect origin, or
 * the final redirect carrying the code would be blocked.
 */
export function loginPageCsp(redirectUri: string): string {
  return `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${new URL(redirectUri).origin}; frame-ancestors 'none'`;
}

export const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  // The page's URL holds the request (state, challenge): no other site needs to see it.
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#1f2328}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .2rem;font-size:.9rem}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem}.error{color:#b3261e}
ul{padding-left:1.2rem;font-size:.9rem}`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

export interface LoginPageInput {
  appName: string;
  scopes: string[];
  /** The authorization request's parameters, posted back unchanged. */
  hidden: Record<string, string>;
  csrfField: string;
  email?: string;
  error?: string;
}

export function loginPage(input: LoginPageInput): string {
  const hidden = Object.entries({ ...input.hidden, csrf_token: input.csrfField })
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
  const scopes = input.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>\n` : '';
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p><strong>${escapeHtml(input.appName)}</strong> asks for access to:</p>
<ul>${scopes}</ul>
${error}<form method="post" action="/v1/oauth/authorize">
${hidden}
<label for="email">Email</label>
<input id="email" type="email" name="email" autocomplete="username" required value="${escapeHtml(input.email ?? '')}">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p class="error">${escapeHtml(message)}</p>`);
}
