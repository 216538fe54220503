import type { AuthorizeRequest, AuthorizeResponse } from '@cpod/proto';

/** The verb → scope suffix table of the default policy (sidecar/policies/authz.rego). */
const VERBS: Record<string, string> = {
  read: 'read',
  list: 'read',
  create: 'write',
  update: 'write',
  delete: 'write',
  evaluate: 'evaluate',
};

/**
 * The default policy's rule, evaluated in-process while the sidecar cannot be asked
 * (CORESDK_FAIL_MODE=open): the token needs a tenant and the scope `<resource>:<verb>`.
 * Custom Rego rules are not evaluated here, so fail-open may only ever be as permissive as the
 * token's own scopes — never "any valid token may do anything".
 */
export function localScopeDecision(request: AuthorizeRequest): AuthorizeResponse {
  const claims = (request.claims ?? {}) as Record<string, unknown>;
  const verb = VERBS[request.action];
  const deny = (reason: string) => ({ allowed: false, reason, policyPath: 'local:default-scopes' });
  if (!verb) return deny(`unknown action "${request.action}"`);
  if (typeof claims.tenant_id !== 'string' || claims.tenant_id === '') return deny('token has no tenant');
  const required = `${request.resource}:${verb}`;
  const granted = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  if (!granted.includes(required)) return deny(`scope "${required}" required`);
  return {
    allowed: true,
    reason: 'allowed (sidecar unreachable, default scope rule)',
    policyPath: 'local:default-scopes',
  };
}
