import type { Logger } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';

/** Audit records for requests without a trustworthy tenant (401s) go to the platform's own chain. */
export const UNAUTHENTICATED_TENANT = '_platform';

function outcomeFor(status: number): string {
  if (status < 400) return 'allow';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'deny';
  if (status === 429) return 'rate_limited';
  if (status < 500) return 'invalid';
  return 'error';
}

/**
 * Steps 6-7: one audit event per request — including 401, 403, 429 and failures — emitted
 * when the response is ready, then the chain's headers (RateLimit-*, X-Request-Id) are added.
 * A failed audit append is logged; the response is not replaced, because the handler's
 * effect has already happened.
 */
export function useAudit(options: { sidecar: SidecarClient; logger: Logger }): Plugin<GatewayContext> {
  return {
    async onResponse({ request, response }) {
      const state = requestState(request);
      for (const [name, value] of Object.entries(state.headers)) response.headers.set(name, value);
      response.headers.set('x-request-id', state.requestId);
      const principal = state.principal;
      try {
        await options.sidecar.emitAuditEvent({
          tenantId: principal?.tenantId || UNAUTHENTICATED_TENANT,
          actor: principal?.subject || 'anonymous',
          clientId: principal?.clientId ?? '',
          action: state.action || `${request.method} ${new URL(request.url).pathname}`,
          resource: state.resource,
          outcome: state.outcome ?? outcomeFor(response.status),
          status: response.status,
          requestId: state.requestId,
          metadata: {
            method: request.method,
            path: new URL(request.url).pathname,
            ...(state.reason ? { reason: state.reason } : {}),
          },
          occurredAt: new Date().toISOString(),
        });
      } catch (err) {
        options.logger.error('audit event could not be recorded', { err, request_id: state.requestId });
      }
    },
  };
}
