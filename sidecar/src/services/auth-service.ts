import type {
  AuthorizeRequest,
  AuthorizeResponse,
  AuthServiceServer,
  CheckResponse,
  ValidateTokenResponse,
} from '@cpod/proto';
import { ApiError, type KeyValueStore, type Logger } from '@cpod/runtime';
import { appRateLimit, toPrincipal } from '@cpod/sdk/access-token-rules';
import { revocationKey, type TokenValidator } from '../auth/token-validator.js';
import type { PolicyPool } from '../policy/policy-pool.js';
import { unary } from '../unary.js';
import { checkRateLimit, type RateLimitDeps } from './rate-limit-service.js';

export const AUTHZ_POLICY_PATH = 'data.cpod.authz.decision';

interface AuthDeps {
  validator: TokenValidator;
  policy: PolicyPool;
  revocations: KeyValueStore;
  rateLimit: RateLimitDeps;
  logger: Logger;
}

async function validateToken(deps: AuthDeps, token: string): Promise<ValidateTokenResponse> {
  const result = await deps.validator.validate(token);
  if (!result.valid) return { valid: false, reason: result.reason, message: result.message };
  return { valid: true, principal: toPrincipal(result.claims), reason: '', message: '' };
}

async function authorize(deps: AuthDeps, request: AuthorizeRequest): Promise<AuthorizeResponse> {
  if (!request.action || !request.resource) {
    throw new ApiError('ERR_VALIDATION_FAILED', 'action and resource are required');
  }
  const input = {
    claims: request.claims ?? {},
    action: request.action,
    resource: request.resource,
    context: request.context ?? {},
  };
  // Trusted input: validated claims and the caller's own action and resource.
  const result = await deps.policy.evaluate(AUTHZ_POLICY_PATH, input, { inline: true });
  // Fail closed: an undefined or malformed decision is a denial, never an allow.
  const decision = result.defined && isRecord(result.value) ? result.value : {};
  const allowed = decision.allow === true;
  const reason = typeof decision.reason === 'string' ? decision.reason : 'policy gave no decision';
  return { allowed, reason, policyPath: AUTHZ_POLICY_PATH };
}

export function authService(deps: AuthDeps): AuthServiceServer {
  return {
    validateToken: unary(deps.logger, 'ValidateToken', ({ token }) => validateToken(deps, token)),

    authorize: unary(deps.logger, 'Authorize', (request) => authorize(deps, request)),

    check: unary(deps.logger, 'Check', async (request): Promise<CheckResponse> => {
      const token = await validateToken(deps, request.token);
      if (!token.valid || !token.principal) return { token };
      const { claims, tenantId, clientId } = token.principal;
      let decision: AuthorizeResponse | undefined;
      for (const check of request.checks) {
        decision = await authorize(deps, { claims, ...check, context: request.context });
        if (!decision.allowed) return { token, decision, deniedCheck: check };
      }
      if (request.rateLimitCost === 0) return { token, decision };
      const rateLimit = await checkRateLimit(deps.rateLimit, {
        bucket: { tenantId, clientId, key: '' },
        cost: request.rateLimitCost,
        limit: appRateLimit(claims),
      });
      return { token, decision, rateLimit };
    }),

    revokeToken: unary(deps.logger, 'RevokeToken', async (request) => {
      let tokenId = request.tokenId;
      let expiresAt = request.expiresAt;
      if (request.token) {
        const result = await deps.validator.validate(request.token);
        // An already revoked token stays revoked; other invalid tokens cannot be accepted
        // by the gateway anyway, so there is nothing to record.
        if (!result.valid) return { revoked: result.reason === 'revoked', tokenId: '' };
        tokenId = String(result.claims.jti);
        expiresAt = result.claims.exp ?? 0;
      }
      if (!tokenId || !expiresAt)
        throw new ApiError('ERR_VALIDATION_FAILED', 'token, or token_id with expires_at, is required');
      const ttlMs = Math.max(1000, (expiresAt + 60) * 1000 - Date.now());
      await deps.revocations.set(revocationKey(tokenId), '1', { ttlMs });
      deps.logger.info('token revoked', { jti: tokenId });
      return { revoked: true, tokenId };
    }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
