import { ApiError } from '@cpod/runtime';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { appCollection } from '../apps/app-repository.js';
import { verifyPassword } from '../users/password.js';
import { normaliseEmail, userRepository } from '../users/user-repository.js';
import { authorizationCodes } from './authorization-codes.js';
import { type AuthorizationRequest, checkAuthorizationRequest, withQuery } from './authorize-request.js';
import { CSRF_COOKIE, CSRF_MAX_AGE_SECONDS } from './csrf.js';
import { errorPage, loginPage, loginPageCsp, PAGE_HEADERS } from './login-page.js';
import type { OAuthContext } from './oauth-context.js';
import { OAuthError } from './oauth-error.js';
import { isThrottleableAddress, peerAddress, sourceAddress } from './source-address.js';
import { inOrder } from './steps.js';
import { readOAuthParams } from './token-request.js';

interface AuthorizeState {
  params: Map<string, string>;
  repeated: Set<string>;
  ip: string;
  request: AuthorizationRequest;
  throttleKeys: string[];
  userId: string;
}

type AuthorizeEnv = { Variables: { authz: Partial<AuthorizeState> } };
type Step = MiddlewareHandler<AuthorizeEnv>;

const COOKIE_PATH = '/v1/oauth/authorize';
const INVALID_LOGIN = 'Invalid email or password.';

/**
 * GET and POST /v1/oauth/authorize: the authorization code flow's login page. GET validates
 * the request and renders the form; POST validates it all again (the hidden fields are the
 * browser's, so nothing in them is trusted), checks CSRF and credentials, then redirects to
 * the client with a code.
 */
export function authorizeRoutes(ctx: OAuthContext): {
  get: Handler<AuthorizeEnv>;
  post: Handler<AuthorizeEnv>;
} {
  const apps = appCollection(ctx.store);
  const users = userRepository(ctx.store);
  const codes = authorizationCodes(ctx.store);
  const secureCookie = ctx.settings.issuer.startsWith('https:');
  const cookieOptions = {
    path: COOKIE_PATH,
    httpOnly: true,
    secure: secureCookie,
    sameSite: 'Strict',
  } as const;

  const page = (c: Context<AuthorizeEnv>, status: 400 | 403 | 429 | 500, title: string, message: string) =>
    c.html(errorPage(title, message), status);

  // First, so its headers are on every answer, and errors from later steps become pages.
  const pageHeaders: Step = async (c, next) => {
    c.set('authz', {});
    for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value);
    try {
      await next();
    } catch (err) {
      if (err instanceof OAuthError && err.status < 500) {
        return page(c, 400, 'Invalid request', err.description);
      }
      const error = ApiError.from(err);
      if (error.status < 500) return page(c, 400, 'Invalid request', error.publicMessage);
      ctx.logger.error('authorization request failed', { err, method: c.req.method });
      return page(c, 500, 'Something went wrong', 'Please go back to the application and try again.');
    }
  };

  const readQuery: Step = async (c, next) => {
    const state = c.get('authz');
    state.params = new Map();
    state.repeated = new Set();
    for (const [key, value] of new URL(c.req.url).searchParams) {
      // RFC 6749 §3.1: parameters must not repeat; which copy would win is not ours to guess.
      if (state.params.has(key)) state.repeated.add(key);
      else state.params.set(key, value);
    }
    await next();
  };

  const readForm: Step = async (c, next) => {
    const state = c.get('authz');
    state.params = await readOAuthParams(c.req.raw, ctx.settings.maxBodyBytes);
    state.repeated = new Set();
    state.ip = sourceAddress(c.req.raw.headers, peerAddress(c.env));
    await next();
  };

  // Before anything is looked up: a forged cross-site post costs one HMAC and nothing else.
  const checkCsrf: Step = async (c, next) => {
    const { params } = c.get('authz');
    const ok = ctx.csrf.verify(
      getCookie(c, CSRF_COOKIE),
      params!.get('csrf_token'),
      params!.get('client_id') ?? '',
    );
    if (!ok) {
      return page(
        c,
        403,
        'Sign-in form expired',
        'This sign-in form has expired or did not come from this site. Go back to the application and start again.',
      );
    }
    await next();
  };

  const checkRequest: Step = async (c, next) => {
    const state = c.get('authz');
    const check = await checkAuthorizationRequest(apps, state.params!, state.repeated!);
    if (!check.ok) {
      if (check.kind === 'page') return page(c, 400, 'Invalid authorization request', check.message);
      return c.redirect(
        withQuery(check.redirectUri, {
          error: check.error,
          error_description: check.description,
          state: check.state,
          iss: ctx.settings.issuer,
        }),
        302,
      );
    }
    state.request = check.request;
    await next();
  };

  const renderLogin = (c: Context<AuthorizeEnv>, status: 200 | 400 | 401, email?: string, error?: string) => {
    const { app, scopes, forward, redirectUri } = c.get('authz').request!;
    const token = ctx.csrf.issue(app.id);
    c.header('content-security-policy', loginPageCsp(redirectUri));
    setCookie(c, CSRF_COOKIE, token.cookie, { ...cookieOptions, maxAge: CSRF_MAX_AGE_SECONDS });
    return c.html(
      loginPage({
        appName: app.name,
        scopes,
        hidden: forward,
        csrfField: token.field,
        ...(email === undefined ? {} : { email }),
        ...(error === undefined ? {} : { error }),
      }),
      status,
    );
  };

  const showLogin: Step = async (c) => renderLogin(c, 200);

  // Per source address and per account. Not per client_id, unlike the token endpoint: anyone
  // can send ten wrong passwords, and one app's login must not be lockable by strangers.
  const rejectThrottled: Step = async (c, next) => {
    const state = c.get('authz');
    const email = normaliseEmail(state.params!.get('email') ?? '');
    state.throttleKeys = [
      ...(isThrottleableAddress(state.ip!) ? [`ip:${state.ip}`] : []),
      ...(email ? [`account:${state.request!.app.tenant_id}:${email.slice(0, 254)}`] : []),
    ];
    const waitMs = ctx.throttle.blockedForMs(state.throttleKeys);
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      c.header('retry-after', String(seconds));
      return page(c, 429, 'Too many attempts', `Too many failed sign-ins. Try again in ${seconds} seconds.`);
    }
    await next();
  };

  const verifyCredentials: Step = async (c, next) => {
    const state = c.get('authz');
    const { app } = state.request!;
    const email = state.params!.get('email') ?? '';
    const password = state.params!.get('password') ?? '';
    if (!email || !password) return renderLogin(c, 400, email, 'Enter your email and password.');
    // Users are looked up in the app's tenant only: someone from another tenant is unknown here.
    const user = email.length <= 254 ? await users.findByEmail(app.tenant_id, email) : null;
    const ok = (await verifyPassword(user?.password_hash, password)) && user !== null;
    if (!ok || !user) {
      ctx.throttle.recordFailure(state.throttleKeys!);
      ctx.logger.info('login failed', { client_id: app.id, tenant_id: app.tenant_id });
      await ctx.events.record({
        type: 'login_failed',
        client_id: app.id,
        tenant_id: app.tenant_id,
        ...(user ? { user_id: user.id } : {}),
        ip: state.ip!,
      });
      // The same words whether the email or the password was wrong: no account enumeration.
      return renderLogin(c, 401, email, INVALID_LOGIN);
    }
    state.userId = user.id;
    await next();
  };

  const issueCode: Step = async (c) => {
    const state = c.get('authz');
    const { app, redirectUri, scopes, state: clientState, codeChallenge } = state.request!;
    const now = ctx.clock();
    const code = await codes.create({
      client_id: app.id,
      tenant_id: app.tenant_id,
      user_id: state.userId!,
      redirect_uri: redirectUri,
      code_challenge: codeChallenge,
      scopes,
      expires_at: now + ctx.settings.authorizationCodeTtlSeconds * 1000,
      created_at: new Date(now).toISOString(),
    });
    // The form has done its job; a stale cookie must not linger for the next one.
    deleteCookie(c, CSRF_COOKIE, cookieOptions);
    ctx.logger.info('authorization code issued', { client_id: app.id, tenant_id: app.tenant_id });
    // RFC 9207: `iss` lets a client that talks to several servers tell which one answered.
    return c.redirect(withQuery(redirectUri, { code, state: clientState, iss: ctx.settings.issuer }), 302);
  };

  return {
    get: inOrder([pageHeaders, readQuery, checkRequest, showLogin]),
    post: inOrder([
      pageHeaders,
      readForm,
      checkCsrf,
      checkRequest,
      rejectThrottled,
      verifyCredentials,
      issueCode,
    ]),
  };
}
