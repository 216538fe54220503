import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '@cpod/runtime';
import { policyReloads } from '../metrics.js';
import type { PolicyPool } from './policy-pool.js';
import { readPolicySet } from './policy-set.js';

export interface PolicyUpdateEvent {
  revision: string;
  modules: string[];
  loadedAt: Date;
}

export interface PolicyReloadFailure {
  at: Date;
  message: string;
}

/**
 * Watches CORESDK_POLICY_DIR and reloads the pool when its contents change. Editors and
 * Kubernetes write in several steps (temp file + rename, symlink swaps), so changes are
 * debounced and the directory is read as one snapshot; an unchanged revision is no reload.
 */
export class PolicyWatcher {
  private readonly listeners = new Set<(update: PolicyUpdateEvent) => void>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private failure: PolicyReloadFailure | undefined;

  constructor(
    private readonly dir: string,
    private readonly pool: PolicyPool,
    private readonly logger: Logger,
    private readonly debounceMs = 100,
  ) {}

  start(): void {
    this.watcher = watch(this.dir, { recursive: true }, () => this.schedule());
    this.watcher.on('error', (err) =>
      this.logger.error('policy directory watch failed', { error: err.message }),
    );
  }

  /** The last failed reload, cleared by the next successful one. */
  get lastFailure(): PolicyReloadFailure | undefined {
    return this.failure;
  }

  /** Calls `listener` once per successful reload; returns the unsubscribe function. */
  subscribe(listener: (update: PolicyUpdateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the directory now and installs it if it changed; resolves when done. */
  reloadNow(): Promise<void> {
    this.running = this.running.then(() => this.reload());
    return this.running;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.listeners.clear();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reloadNow(), this.debounceMs);
  }

  private async reload(): Promise<void> {
    const previous = this.pool.revision;
    try {
      await this.pool.reload(readPolicySet(this.dir));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.failure = { at: new Date(), message };
      policyReloads.inc({ result: 'failure' });
      this.logger.error('policy reload failed; the previous policy stays in force', {
        revision: previous,
        error: message,
      });
      return;
    }
    this.failure = undefined;
    if (this.pool.revision === previous) return;
    const update = { revision: this.pool.revision, modules: this.pool.modules, loadedAt: this.pool.loadedAt };
    policyReloads.inc({ result: 'success' });
    this.logger.info('policy reloaded', { revision: update.revision, modules: update.modules });
    for (const listener of this.listeners) listener(update);
  }
}
