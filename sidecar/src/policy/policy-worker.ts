/**
 * A policy worker: owns one engine and evaluates requests one at a time, off the main thread,
 * so a slow policy never stalls the sidecar's gRPC event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PolicyEngine } from './policy-engine.js';
import type { FromWorker, ToWorker, WorkerStart } from './policy-messages.js';
import { problemsOf } from './policy-problems.js';
import { compileModules } from './rego/index.js';
import { loadPolicyEngine } from './rego-policy-engine.js';

const port = parentPort;
if (port === null) throw new Error('policy-worker must run as a worker thread');

function send(message: FromWorker): void {
  port?.postMessage(message);
}

const start = workerData as WorkerStart;
let engine: PolicyEngine = await loadPolicyEngine(start.set);
const staged = new Map<string, PolicyEngine>();

port.on('message', async (message: ToWorker) => {
  switch (message.type) {
    case 'prepare':
      try {
        staged.set(message.revision, await loadPolicyEngine(message.set));
        send({ type: 'prepared', revision: message.revision, problems: [] });
      } catch (err) {
        send({
          type: 'prepared',
          revision: message.revision,
          problems: problemsOf(err, 'policy_load_error'),
        });
      }
      return;
    case 'commit': {
      const next = staged.get(message.revision);
      if (next !== undefined) engine = next;
      staged.clear();
      return;
    }
    case 'discard':
      staged.delete(message.revision);
      return;
    case 'evaluate':
      try {
        const result = engine.evaluate(message.path, message.input, {
          deadline: Date.now() + message.budgetMs,
        });
        send({ type: 'result', id: message.id, ...result });
      } catch (err) {
        send({ type: 'failed', id: message.id, problems: problemsOf(err, 'policy_eval_error') });
      }
      return;
    case 'dry-run':
      try {
        const policy = compileModules(message.modules);
        const result = policy.evaluate(message.path, message.input, {
          deadline: Date.now() + message.budgetMs,
        });
        send({ type: 'result', id: message.id, ...result });
      } catch (err) {
        send({ type: 'failed', id: message.id, problems: problemsOf(err, 'policy_eval_error') });
      }
      return;
  }
});
send({ type: 'ready' });
