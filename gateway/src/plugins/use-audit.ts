import type { Logger } from '@cpod/runtime';
import { AuditQueue, type SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { requestState } from '../request-state.js';

/**
 * Audit records for requests without a trustworthy tenant (401s, and any request refused
 * before its token was validated) go to the platform's own chain: a tenant named by an
 * unverified token must not be able to write into that tenant's chain.
 */
export const UNAUTHENTICATED_TENANT = '_platform';

function outcomeFor(status: number): string {
  if (status < 400) return 'allow';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'deny';
  if (status === 429) return 'rate_limited';
  if (status < 500) return 'invalid';
  return 'error';
}

/** A queue sending to `sidecar` in batches; the gateway server creates one and flushes it on close. */
export function createAuditQueue(options: {
  sidecar: SidecarClient;
  logger: Logger;
  queueMax?: number;
  batchMax?: number;
}): AuditQueue {
  return new AuditQueue({
    send: (events) => options.sidecar.emitAuditEvents(events),
    queueMax: options.queueMax,
    batchMax: options.batchMax,
    onError: (err, { events, dropped }) => {
      // Dropped only when the sidecar rejected the batch as invalid; otherwise it is retried.
      if (dropped) options.logger.error('audit batch rejected by the sidecar', { err, events });
      else options.logger.warn('audit batch not recorded yet; retrying', { err, events });
    },
  });
}

/**
 * Steps 6-7: one audit event per request — including 401, 403, 429 and failures — queued
 * when the response is ready, then the chain's headers (RateLimit-*, X-Request-Id) are added.
 * The event goes through the bounded AuditQueue, so the response waits for the append only
 * when the queue is full (backpressure); a sidecar that is down or restarting delays the
 * record, it does not lose it.
 */
export function useAudit(options: {
  sidecar: SidecarClient;
  logger: Logger;
  auditQueue?: AuditQueue;
}): Plugin<GatewayContext> {
  const queue = options.auditQueue ?? createAuditQueue(options);
  return {
    async onResponse({ request, response }) {
      const state = requestState(request);
      for (const [name, value] of Object.entries(state.headers)) response.headers.set(name, value);
      response.headers.set('x-request-id', state.requestId);
      const principal = state.principal;
      const path = new URL(request.url).pathname;
      try {
        await queue.enqueue({
          tenantId: principal?.tenantId || UNAUTHENTICATED_TENANT,
          actor: principal?.subject || 'anonymous',
          clientId: principal?.clientId ?? '',
          action: state.action || `${request.method} ${path}`,
          resource: state.resource,
          outcome: state.outcome ?? outcomeFor(response.status),
          status: response.status,
          requestId: state.requestId,
          metadata: {
            method: request.method,
            path,
            ...(state.reason ? { reason: state.reason } : {}),
            // Let through on a local token check while the sidecar was unreachable: an
            // auditor must be able to find these requests, since policy was not consulted.
            ...(state.failOpen ? { fail_open: true } : {}),
          },
          occurredAt: new Date().toISOString(),
        });
      } catch (err) {
        // Only after close(): the gateway is shutting down and no longer accepts events.
        options.logger.error('audit event could not be queued', { err, request_id: state.requestId });
      }
    },
  };
}
