import { ApiError } from '@cpod/runtime';
import type { SidecarClient } from '@cpod/sdk';
import { type DocumentNode, type GraphQLSchema, parse } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context.js';
import { toGraphQLError } from '../errors.js';
import { requestState } from '../request-state.js';
import { type AccessPlan, accessPlan, admissionGraphQLError, admit } from './admission.js';
import { rootFields } from './root-fields.js';

/**
 * Steps 2–4 for GraphQL: every root field carries `{resource, action}`, and the request's one
 * AuthService.Check validates the token, decides each distinct pair with the Rego policy and
 * charges the rate limit. A field without that metadata is denied — a new field cannot be
 * reachable by forgetting to annotate it.
 *
 * The check starts as soon as the request's GraphQL params are read (onParams), so a caller
 * with a bad token learns nothing from parse or validation errors; onExecute applies its answer
 * (and starts it, for operations that arrive without params: REST routes start their own).
 */
export function useAuthorize(options: {
  sidecar: SidecarClient;
  /** Off only in the rate-limit benchmark (GatewayDeps.benchmarkWithout). */
  rateLimit: boolean;
}): Plugin<GatewayContext> {
  let schema: GraphQLSchema | undefined;
  const admitPlan = (request: Request, plan: AccessPlan) =>
    admit(options.sidecar, requestState(request), plan, { rateLimit: options.rateLimit });
  return {
    onSchemaChange({ schema: next }) {
      schema = next;
    },
    async onParams({ request, params, setResult }) {
      if (!requestState(request).token || !schema) return;
      let document: DocumentNode | undefined;
      try {
        document = parse(params.query ?? '');
      } catch {
        // yoga reports the syntax error, but only to a caller whose token holds.
      }
      const plan: AccessPlan = document
        ? accessPlan(rootFields(schema, document, params.operationName))
        : { checks: [], tokenOnly: true };
      const admission = await admitPlan(request, plan);
      if (admission.error)
        setResult({ errors: [admissionGraphQLError(admission.error, admission.rateLimit)] });
    },
    async onExecute({ args, setResultAndStopExecution }) {
      const request = args.contextValue.request;
      const state = requestState(request);
      const fields = rootFields(args.schema, args.document, args.operationName);
      const checked = fields.filter((f) => !f.introspection);
      if (!state.action) {
        state.action =
          checked.map((f) => (f.authz ? `${f.authz.resource}.${f.authz.action}` : f.name)).join(',') ||
          'introspection';
        state.resource ||= [...new Set(checked.map((f) => f.authz?.resource ?? f.name))].join(',');
      }
      // Anonymous introspection, which only the console listener lets through to here.
      if (!state.token && checked.length === 0) return;
      if (!state.token) {
        state.outcome = 'unauthenticated';
        state.reason = 'authentication required';
        return setResultAndStopExecution({
          errors: [toGraphQLError(new ApiError('ERR_AUTH_MISSING_TOKEN', 'authentication required'))],
        });
      }
      const admission = await admitPlan(request, accessPlan(fields));
      if (admission.error) {
        setResultAndStopExecution({
          errors: [admissionGraphQLError(admission.error, admission.rateLimit)],
        });
      }
    },
  };
}
