import { ApiError } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { toGraphQLError } from '../errors.js';
import { requestState } from '../request-state.js';
import { sidecarUnavailable } from './render-error.js';
import { rootFields } from './root-fields.js';

/**
 * Step 3: every root field carries `{resource, action}`; each distinct pair is decided by
 * the sidecar's Rego policy. A field without that metadata is denied — a new field cannot
 * be reachable by forgetting to annotate it.
 */
export function useAuthorize(options: { sidecar: SidecarClient }): Plugin<GatewayContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const state = requestState(args.contextValue.request);
      const stop = (err: ApiError) => {
        state.outcome ??=
          err.code === 'ERR_POLICY_DENIED' ? 'deny' : err.status === 401 ? 'unauthenticated' : 'error';
        state.reason = err.message;
        setResultAndStopExecution({ errors: [toGraphQLError(err)] });
      };
      const fields = rootFields(args.schema, args.document, args.operationName);
      const checked = fields.filter((f) => !f.introspection);
      if (!state.action) {
        state.action =
          checked.map((f) => (f.authz ? `${f.authz.resource}.${f.authz.action}` : f.name)).join(',') ||
          'introspection';
        state.resource ||= [...new Set(checked.map((f) => f.authz?.resource ?? f.name))].join(',');
      }
      if (checked.length === 0) return; // introspection only: allowed where the listener allows it
      const principal = state.principal;
      if (!principal) return stop(new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required'));
      const unannotated = checked.find((f) => !f.authz);
      if (unannotated)
        return stop(new ApiError('ERR_POLICY_DENIED', `field ${unannotated.name} has no authorization rule`));
      const pairs = new Map(checked.map((f) => [`${f.authz!.resource}.${f.authz!.action}`, f.authz!]));
      for (const { resource, action } of pairs.values()) {
        let decision: { allowed: boolean; reason: string; failOpen?: true };
        try {
          decision = await options.sidecar.authorize({
            claims: principal.claims ?? {},
            action,
            resource,
            context: undefined,
          });
        } catch (err) {
          return stop(sidecarUnavailable(err));
        }
        // Fail-open: decided by the default policy's scope rule in-process (see local-scope-check.ts).
        if (decision.failOpen) state.failOpen = true;
        if (!decision.allowed)
          return stop(
            new ApiError('ERR_POLICY_DENIED', `not allowed to ${action} ${resource}: ${decision.reason}`),
          );
      }
    },
  };
}
