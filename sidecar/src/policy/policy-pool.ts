import { Worker } from 'node:worker_threads';
import { ApiError, type Logger } from '@cpod/runtime';
import type { PolicyEngine, PolicyResult } from './policy-engine.js';
import type { FromWorker, PolicyProblem, ToWorker, WorkerStart } from './policy-messages.js';
import { problemsOf } from './policy-problems.js';
import { moduleNames, type PolicySet } from './policy-set.js';
import type { RegoModule } from './rego/index.js';
import { loadPolicyEngine } from './rego-policy-engine.js';

// Under Vitest this file runs from src/ as TypeScript, which a worker thread cannot load;
// the worker then comes from the build (npm test builds first).
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? '../../dist/policy/policy-worker.js' : './policy-worker.js',
  import.meta.url,
);

/**
 * How long an inline evaluation may run on the main thread before it is stopped and handed to
 * a worker. The default policy takes tens of microseconds; a posted message to a worker and
 * back costs hundreds, which is most of an Authorize call.
 */
export const INLINE_BUDGET_MS = 2;
/**
 * Overruns in a row before a path leaves the main thread: a cold first evaluation (code not yet
 * compiled by V8) or a garbage-collection pause can overrun once; a slow policy does every time.
 */
export const INLINE_OVERRUNS_BEFORE_POOL = 3;

export interface PolicyPoolOptions {
  set: PolicySet;
  /** Number of worker threads, each with its own engine. */
  size: number;
  /** Per-evaluation budget; a policy still running after it ends with ERR_POLICY_TIMEOUT. */
  budgetMs: number;
  logger: Logger;
  /** Evaluations waiting per worker before new ones are refused (no unbounded queue). */
  maxQueuePerWorker?: number;
}

export type DryRunOutcome = { ok: true; result: PolicyResult } | { ok: false; problems: PolicyProblem[] };

export class PolicyReloadError extends Error {
  constructor(readonly problems: PolicyProblem[]) {
    super(problems.map((p) => (p.location ? `${p.location}: ${p.message}` : p.message)).join('; '));
    this.name = 'PolicyReloadError';
  }
}

/** Policy problems (compile or evaluation errors) are an answer; `error` means no answer. */
type JobOutcome =
  | { ok: true; result: PolicyResult }
  | { ok: false; problems: PolicyProblem[] }
  | { error: Error };

interface Job {
  id: number;
  message: Extract<ToWorker, { type: 'evaluate' | 'dry-run' }>;
  settle: (outcome: JobOutcome) => void;
}

interface Slot {
  worker: Worker;
  revision: string;
  ready: boolean;
  /** In the order the worker runs them: it evaluates one at a time. */
  jobs: Job[];
  /** When the head job started running (dispatch time, or the previous job's completion). */
  headStartedAt: number;
  watchdog: NodeJS.Timeout | undefined;
  onPrepared: ((problems: PolicyProblem[]) => void) | undefined;
}

/**
 * A fixed set of worker threads, each holding the same compiled policy. Requests go to the
 * least busy worker; a watchdog ends any worker whose current evaluation overruns its budget
 * (even a policy that cannot check its own deadline) and starts a fresh one in its place.
 *
 * Trusted inputs (see `evaluate`'s `inline`) are first evaluated on the main thread by a Rego
 * engine holding the same revision, under INLINE_BUDGET_MS; a path that overruns it is sent to
 * the workers from then on, until the next reload.
 */
export class PolicyPool {
  private readonly slots: Slot[] = [];
  private backlog: Job[] = [];
  private nextId = 1;
  private closed = false;
  private reloading: Promise<unknown> = Promise.resolve();
  private loaded: Date = new Date();
  private set: PolicySet;
  /** The current revision compiled on the main thread; undefined for wasm, which cannot stop itself. */
  private inline: PolicyEngine | undefined;
  /** Per path, inline evaluations in a row that overran INLINE_BUDGET_MS under the current revision. */
  private overruns = new Map<string, number>();

  private constructor(private readonly options: PolicyPoolOptions) {
    this.set = options.set;
  }

  /** Starts every worker; rejects (naming the problem) when the initial policy does not load. */
  static async start(options: PolicyPoolOptions): Promise<PolicyPool> {
    const pool = new PolicyPool(options);
    try {
      await Promise.all(Array.from({ length: Math.max(1, options.size) }, () => pool.spawn()));
      pool.inline = await inlineEngine(options.set);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get revision(): string {
    return this.set.revision;
  }

  get modules(): string[] {
    return moduleNames(this.set);
  }

  get loadedAt(): Date {
    return this.loaded;
  }

  /** Evaluations queued or running across all workers. */
  get queueDepth(): number {
    return this.backlog.length + this.slots.reduce((n, s) => n + s.jobs.length, 0);
  }

  get kind(): PolicySet['kind'] {
    return this.set.kind;
  }

  /**
   * `inline: true` is for inputs the sidecar trusts (Authorize: validated claims and the
   * gateway's own action and resource). They may run on the main thread, where a single slow
   * built-in call (a backtracking regex over a large caller-chosen string, say) could not be
   * stopped by the budget; caller-chosen inputs (Evaluate) always go to a worker.
   */
  async evaluate(path: string, input: unknown, options: { inline?: boolean } = {}): Promise<PolicyResult> {
    if (options.inline && this.inline !== undefined && this.isFast(path)) {
      const inline = this.evaluateInline(this.inline, path, input);
      if (inline !== undefined) return inline;
    }
    const outcome = await this.run({ type: 'evaluate', path, input });
    if (outcome.ok) return outcome.result;
    throw this.toApiError(outcome.problems);
  }

  private isFast(path: string): boolean {
    return (this.overruns.get(path) ?? 0) < INLINE_OVERRUNS_BEFORE_POOL;
  }

  /** The result, or undefined when the evaluation overran INLINE_BUDGET_MS (a worker then answers). */
  private evaluateInline(engine: PolicyEngine, path: string, input: unknown): PolicyResult | undefined {
    let result: PolicyResult;
    try {
      result = engine.evaluate(path, input, { deadline: Date.now() + INLINE_BUDGET_MS });
    } catch (err) {
      const problems = problemsOf(err, 'policy_eval_error');
      if (!problems.some((p) => p.code === 'eval_cancel_error')) throw this.toApiError(problems);
      this.overruns.set(path, (this.overruns.get(path) ?? 0) + 1);
      if (!this.isFast(path)) {
        this.options.logger.warn('policy evaluation is slow; evaluating it in the worker pool from now on', {
          path,
          inline_budget_ms: INLINE_BUDGET_MS,
        });
      }
      return undefined;
    }
    this.overruns.delete(path);
    return result;
  }

  /** Compiles and evaluates `modules` in a worker without installing them. */
  async dryRun(modules: RegoModule[], path: string, input: unknown): Promise<DryRunOutcome> {
    const outcome = await this.run({ type: 'dry-run', modules, path, input });
    if (!outcome.ok && outcome.problems.some((p) => p.code === 'eval_cancel_error')) {
      throw this.toApiError(outcome.problems);
    }
    return outcome;
  }

  /**
   * Installs `set` on every worker or on none: a broken set leaves the running policy in
   * place and rejects with `PolicyReloadError`.
   */
  reload(set: PolicySet): Promise<void> {
    const next = this.reloading.then(() => this.reloadNow(set));
    this.reloading = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    const jobs = [...this.backlog, ...this.slots.flatMap((s) => s.jobs)];
    this.backlog = [];
    for (const job of jobs) job.settle({ error: unavailable('the policy pool is shutting down') });
    await Promise.all(
      this.slots.splice(0).map((slot) => {
        clearTimeout(slot.watchdog);
        return slot.worker.terminate();
      }),
    );
  }

  private async reloadNow(set: PolicySet): Promise<void> {
    if (set.revision === this.set.revision) return;
    const slots = this.slots.filter((s) => s.ready);
    const answers = await Promise.all(
      slots.map(
        (slot) =>
          new Promise<PolicyProblem[]>((resolve) => {
            slot.onPrepared = resolve;
            slot.worker.postMessage({ type: 'prepare', revision: set.revision, set } satisfies ToWorker);
          }),
      ),
    );
    let inline: PolicyEngine | undefined;
    let problems = answers.find((a) => a.length > 0);
    if (!problems) {
      try {
        inline = await inlineEngine(set);
      } catch (err) {
        problems = problemsOf(err, 'policy_load_error');
      }
    }
    const verdict: ToWorker = problems
      ? { type: 'discard', revision: set.revision }
      : { type: 'commit', revision: set.revision };
    for (const slot of slots) slot.worker.postMessage(verdict);
    if (problems) throw new PolicyReloadError(problems);
    this.set = set;
    this.inline = inline;
    this.overruns = new Map();
    this.loaded = new Date();
    // A worker that was restarting during the reload still runs the old set: replace it.
    for (const slot of this.slots) if (slot.revision !== set.revision) this.replace(slot);
  }

  private run(
    request:
      | { type: 'evaluate'; path: string; input: unknown }
      | { type: 'dry-run'; modules: RegoModule[]; path: string; input: unknown },
  ): Promise<{ ok: true; result: PolicyResult } | { ok: false; problems: PolicyProblem[] }> {
    if (this.closed) return Promise.reject(unavailable('the policy pool is shutting down'));
    const id = this.nextId++;
    const message = { ...request, id, budgetMs: this.options.budgetMs };
    return new Promise((resolve, reject) => {
      this.dispatch({
        id,
        message,
        settle: (outcome) => ('error' in outcome ? reject(outcome.error) : resolve(outcome)),
      });
    });
  }

  private dispatch(job: Job): void {
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.ready && (best === undefined || slot.jobs.length < best.jobs.length)) best = slot;
    }
    const limit = this.options.maxQueuePerWorker ?? 256;
    if (best === undefined) {
      if (this.backlog.length >= limit) {
        job.settle({ error: unavailable('no policy worker is available') });
        return;
      }
      this.backlog.push(job);
      return;
    }
    if (best.jobs.length >= limit) {
      job.settle({ error: unavailable('policy workers are saturated') });
      return;
    }
    if (best.jobs.length === 0) best.headStartedAt = Date.now();
    best.jobs.push(job);
    best.worker.postMessage(job.message);
    if (best.jobs.length === 1) this.arm(best);
  }

  /** Hard limit for the head job: the budget plus as much again (at least 100 ms) of grace. */
  private arm(slot: Slot): void {
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    if (slot.jobs.length === 0) return;
    const limit = this.options.budgetMs + Math.max(100, this.options.budgetMs);
    const wait = Math.max(0, slot.headStartedAt + limit - Date.now());
    slot.watchdog = setTimeout(() => this.overrun(slot), wait);
    slot.watchdog.unref();
  }

  private overrun(slot: Slot): void {
    const head = slot.jobs.shift();
    this.options.logger.warn('policy evaluation overran its budget; restarting the worker', {
      budget_ms: this.options.budgetMs,
    });
    head?.settle({ error: this.timeout() });
    this.replace(slot);
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        return;
      case 'prepared':
        slot.onPrepared?.(message.problems);
        slot.onPrepared = undefined;
        return;
      case 'result':
      case 'failed': {
        const job = slot.jobs[0];
        if (job === undefined || job.id !== message.id) return;
        slot.jobs.shift();
        slot.headStartedAt = Date.now();
        this.arm(slot);
        job.settle(
          message.type === 'result'
            ? { ok: true, result: { defined: message.defined, value: message.value } }
            : { ok: false, problems: message.problems },
        );
        return;
      }
    }
  }

  private spawn(): Promise<void> {
    const set = this.set;
    const worker = new Worker(WORKER_URL, { workerData: { set } satisfies WorkerStart });
    const slot: Slot = {
      worker,
      revision: set.revision,
      ready: false,
      jobs: [],
      headStartedAt: 0,
      watchdog: undefined,
      onPrepared: undefined,
    };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready' && !slot.ready) {
          slot.ready = true;
          resolve();
          if (slot.revision !== this.set.revision) this.replace(slot);
          else this.flushBacklog();
        }
        this.onMessage(slot, message);
      });
      worker.on('error', (err) => {
        if (!slot.ready) {
          reject(new PolicyReloadError([{ code: 'policy_load_error', message: err.message, location: '' }]));
          return;
        }
        this.options.logger.error('policy worker failed; restarting it', { error: err.message });
      });
      worker.on('exit', () => {
        if (!this.slots.includes(slot)) return;
        // An unexpected exit: fail what it held and keep the pool at full strength.
        const jobs = slot.jobs.splice(0);
        for (const job of jobs) job.settle({ error: unavailable('the policy worker stopped') });
        if (slot.ready) this.replace(slot);
        else this.slots.splice(this.slots.indexOf(slot), 1);
      });
    });
  }

  /** Retires `slot`, hands its waiting jobs to the others and starts a successor. */
  private replace(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index < 0 || this.closed) return;
    this.slots.splice(index, 1);
    clearTimeout(slot.watchdog);
    slot.onPrepared?.([
      { code: 'policy_load_error', message: 'worker restarted during reload', location: '' },
    ]);
    void slot.worker.terminate();
    const waiting = slot.jobs.splice(0);
    this.spawn().catch((err: unknown) => {
      this.options.logger.error('policy worker could not restart', { error: String(err) });
    });
    for (const job of waiting) this.dispatch(job);
  }

  private toApiError(problems: PolicyProblem[]): ApiError {
    const first = problems[0] ?? { code: 'policy_error', message: 'policy evaluation failed', location: '' };
    if (first.code === 'eval_cancel_error') return this.timeout();
    // Evaluation messages already carry their code and location (`authz.rego:3: eval_conflict_error: ...`).
    return new ApiError('ERR_POLICY_ERROR', first.message, { expose: true });
  }

  private timeout(): ApiError {
    return new ApiError(
      'ERR_POLICY_TIMEOUT',
      `policy evaluation exceeded its budget of ${this.options.budgetMs} ms`,
      { expose: true },
    );
  }

  private flushBacklog(): void {
    const waiting = this.backlog;
    this.backlog = [];
    for (const job of waiting) this.dispatch(job);
  }
}

/** Only Rego engines check their own deadline, so only they may run on the main thread. */
function inlineEngine(set: PolicySet): Promise<PolicyEngine | undefined> {
  return set.kind === 'rego' ? loadPolicyEngine(set) : Promise.resolve(undefined);
}

function unavailable(message: string): ApiError {
  return new ApiError('ERR_SIDECAR_UNAVAILABLE', message, { expose: true });
}
