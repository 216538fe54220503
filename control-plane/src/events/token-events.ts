import { type DocumentStore, type Logger, newId } from '@cpod/runtime';
import { PLATFORM_NAMESPACE } from '../apps/app-repository.js';

export const TOKEN_EVENT_TYPES = [
  'issued',
  'refreshed',
  'refresh_replay',
  'revoked',
  'login_failed',
  'client_auth_failed',
] as const;

export type TokenEventType = (typeof TOKEN_EVENT_TYPES)[number];

/** What happened to a credential. Never holds a token, code, secret or password: only identifiers. */
export interface TokenEventInput {
  type: TokenEventType;
  client_id: string;
  user_id?: string;
  tenant_id?: string;
  ip?: string;
  detail?: Record<string, string | number | boolean>;
}

export interface TokenEventRecord extends TokenEventInput {
  id: string;
  at: string;
  [field: string]: unknown;
}

export interface TokenEvents {
  record(event: TokenEventInput): Promise<void>;
}

export function tokenEventCollection(store: DocumentStore) {
  return store.collection<TokenEventRecord>('token_events');
}

/**
 * Events live in their tenant's namespace, or in `_platform` when no tenant is known (an
 * unknown client_id). Recording is best effort: a failed write is logged and does not turn a
 * correct OAuth answer into a 500, since the event log observes the decision and does not make it.
 */
export function tokenEvents(store: DocumentStore, logger: Logger, clock: () => number): TokenEvents {
  const events = tokenEventCollection(store);
  return {
    async record(input) {
      const now = clock();
      const event: TokenEventRecord = {
        id: newId('tev', now),
        at: new Date(now).toISOString(),
        ...input,
        // Attacker-chosen strings are bounded before they are stored.
        client_id: input.client_id.slice(0, 100),
        ...(input.ip === undefined ? {} : { ip: input.ip.slice(0, 64) }),
      };
      await events.insert(input.tenant_id ?? PLATFORM_NAMESPACE, event).catch((err: unknown) => {
        logger.error('token event could not be recorded', {
          err,
          type: input.type,
          client_id: event.client_id,
        });
      });
    },
  };
}
