import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, createLogger } from '@cpod/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  INLINE_BUDGET_MS,
  INLINE_OVERRUNS_BEFORE_POOL,
  PolicyPool,
  PolicyReloadError,
} from './policy-pool.js';
import { readPolicySet, regoSet } from './policy-set.js';
import { type PolicyUpdateEvent, PolicyWatcher } from './policy-watcher.js';
import { assembleTestPolicyWasm } from './testing/opa-abi-policy.js';

const logger = createLogger({ level: 'silent' });
const DEFAULT_DIR = join(import.meta.dirname, '../../policies');

const SIMPLE = (answer: string) => `package t
import rego.v1
answer := "${answer}"
allow if input.user == "alice"
`;
// Loops 10^8 times inside the evaluator: stopped by the evaluator's own deadline check.
const SLOW_LOOP = `package t
import rego.v1
spin if {
  some i in numbers.range(1, 10000)
  some j in numbers.range(1, 10000)
  i + j < 0
}
`;
// One built-in call that never yields to the evaluator: only the watchdog can end it.
const SLOW_BUILTIN = `package t
import rego.v1
huge := count(numbers.range(1, 300000000))
`;

// Tens of milliseconds of evaluator steps: over the inline budget, well within the pool's.
const MODERATE_LOOP = `package t
import rego.v1
pairs := count([1 | some i in numbers.range(1, 400); some j in numbers.range(1, 400); i != j])
`;

const pools: PolicyPool[] = [];
async function pool(modules: Record<string, string>, options: { size?: number; budgetMs?: number } = {}) {
  const p = await PolicyPool.start({
    set: regoSet(Object.entries(modules).map(([path, source]) => ({ path, source }))),
    size: options.size ?? 2,
    budgetMs: options.budgetMs ?? 100,
    logger,
  });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('PolicyPool', () => {
  it('evaluates the default authorization policy in worker threads', async () => {
    const p = await PolicyPool.start({ set: readPolicySet(DEFAULT_DIR), size: 2, budgetMs: 100, logger });
    pools.push(p);
    const input = {
      claims: { tenant_id: 't1', scope: 'people:read' },
      action: 'read',
      resource: 'people',
    };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => p.evaluate('data.cpod.authz.decision', input)),
    );
    for (const r of results) expect(r).toEqual({ defined: true, value: { allow: true, reason: 'allowed' } });
    expect(p.modules).toEqual(['authz.rego']);
    expect(p.revision).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses to start on a broken policy, naming file, line and column', async () => {
    const err = await PolicyPool.start({
      set: regoSet([{ path: 'bad.rego', source: 'package t\nimport rego.v1\np if { x }\n' }]),
      size: 1,
      budgetMs: 100,
      logger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/bad\.rego:3:\d+/);
  });

  it('ends a runaway evaluation with ERR_POLICY_TIMEOUT while the event loop stays free', async () => {
    const p = await pool({ 'slow.rego': SLOW_LOOP }, { budgetMs: 50 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const err = await rejection(p.evaluate('data.t.spin', {}));
    clearInterval(timer);
    expect(err.code).toBe('ERR_POLICY_TIMEOUT');
    expect(err.status).toBe(504);
    expect(err.message).toContain('50 ms');
    // The main thread kept running timers while the policy spun in its worker.
    expect(ticks).toBeGreaterThan(2);
  });

  it('restarts a worker stuck in a built-in and keeps serving', async () => {
    const p = await pool(
      { 'slow.rego': SLOW_BUILTIN, 'simple.rego': SIMPLE('one') },
      { size: 1, budgetMs: 20 },
    );
    const err = await rejection(p.evaluate('data.t.huge', {}));
    expect(err.code).toBe('ERR_POLICY_TIMEOUT');
    expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'one' });
  });

  it('serves other calls while one worker is busy with a slow policy', async () => {
    const p = await pool(
      { 'slow.rego': SLOW_LOOP, 'simple.rego': SIMPLE('one') },
      { size: 2, budgetMs: 300 },
    );
    const slow = rejection(p.evaluate('data.t.spin', {}));
    const order: string[] = [];
    await Promise.all([
      slow.then(() => order.push('slow')),
      p.evaluate('data.t.allow', { user: 'alice' }).then((r) => {
        expect(r).toEqual({ defined: true, value: true });
        order.push('fast');
      }),
    ]);
    expect(order).toEqual(['fast', 'slow']);
  });

  it('evaluates trusted input inline, on the main thread, even while every worker is stuck', async () => {
    const p = await pool(
      { 'slow.rego': SLOW_BUILTIN, 'simple.rego': SIMPLE('one') },
      { size: 1, budgetMs: 500 },
    );
    const stuck = rejection(p.evaluate('data.t.huge', {}));
    // The only worker is inside one long built-in call; an inline answer cannot have come from it.
    expect(await p.evaluate('data.t.allow', { user: 'alice' }, { inline: true })).toEqual({
      defined: true,
      value: true,
    });
    expect(p.queueDepth).toBe(1);
    expect((await stuck).code).toBe('ERR_POLICY_TIMEOUT');
  });

  it('hands a path that overruns the inline budget to the workers, and keeps it there until a reload', async () => {
    const p = await pool({ 'moderate.rego': MODERATE_LOOP }, { size: 1, budgetMs: 5000 });
    const warn = vi.spyOn(logger, 'warn');
    try {
      const expected = { defined: true, value: 400 * 399 };
      const overrunAll = async () => {
        for (let i = 0; i < INLINE_OVERRUNS_BEFORE_POOL; i++) {
          expect(await p.evaluate('data.t.pairs', {}, { inline: true })).toEqual(expected);
        }
      };
      await overrunAll();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[1]).toMatchObject({
        path: 'data.t.pairs',
        inline_budget_ms: INLINE_BUDGET_MS,
      });
      // Marked slow: straight to the worker, no further inline attempt (and no further warning).
      expect(await p.evaluate('data.t.pairs', {}, { inline: true })).toEqual(expected);
      expect(warn).toHaveBeenCalledTimes(1);
      // A reload compiles the new revision inline too and forgets which paths were slow.
      await p.reload(regoSet([{ path: 'simple.rego', source: SIMPLE('two') }]));
      expect(await p.evaluate('data.t.answer', {}, { inline: true })).toEqual({
        defined: true,
        value: 'two',
      });
      await p.reload(regoSet([{ path: 'moderate.rego', source: MODERATE_LOOP }]));
      await overrunAll();
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });

  it('reports inline evaluation errors like the workers do', async () => {
    const p = await pool({
      'conflict.rego': 'package t\nimport rego.v1\nx := 1 if input.a\nx := 2 if input.a\n',
    });
    const err = await rejection(p.evaluate('data.t.x', { a: true }, { inline: true }));
    expect(err.code).toBe('ERR_POLICY_ERROR');
    expect(err.message).toContain('eval_conflict_error');
  });

  it('reports evaluation errors with their OPA code', async () => {
    const p = await pool({
      'conflict.rego': 'package t\nimport rego.v1\nx := 1 if input.a\nx := 2 if input.a\n',
    });
    const err = await rejection(p.evaluate('data.t.x', { a: true }));
    expect(err.code).toBe('ERR_POLICY_ERROR');
    expect(err.expose).toBe(true);
    expect(err.message).toContain('eval_conflict_error');
  });

  it('reloads atomically: a broken set keeps the running policy, a good one replaces it everywhere', async () => {
    const p = await pool({ 'simple.rego': SIMPLE('one') }, { size: 2 });
    const before = p.revision;
    const broken = regoSet([{ path: 'simple.rego', source: 'package t\nanswer := \n' }]);
    const err = await p.reload(broken).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyReloadError);
    expect((err as PolicyReloadError).problems[0]?.location).toMatch(/^simple\.rego:\d+:\d+$/);
    expect(p.revision).toBe(before);
    expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'one' });

    await p.reload(regoSet([{ path: 'simple.rego', source: SIMPLE('two') }]));
    expect(p.revision).not.toBe(before);
    const answers = await Promise.all(Array.from({ length: 10 }, () => p.evaluate('data.t.answer', {})));
    expect(new Set(answers.map((a) => a.value))).toEqual(new Set(['two']));
  });

  it('dry-runs sources without installing them', async () => {
    const p = await pool({ 'simple.rego': SIMPLE('one') });
    const ok = await p.dryRun([{ path: 'try.rego', source: SIMPLE('draft') }], 'data.t.answer', {});
    expect(ok).toEqual({ ok: true, result: { defined: true, value: 'draft' } });
    const bad = await p.dryRun([{ path: 'try.rego', source: 'package t\np if { y }\n' }], 'data.t.p', {});
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems[0]?.location).toMatch(/^try\.rego:2:\d+$/);
      expect(bad.problems[0]?.message).toContain('rego_unsafe_var_error');
    }
    expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'one' });
  });

  it('refuses new work once its queue is full instead of growing without bound', async () => {
    const limited = await PolicyPool.start({
      set: regoSet([{ path: 'slow.rego', source: SLOW_LOOP }]),
      size: 1,
      budgetMs: 200,
      logger,
      maxQueuePerWorker: 2,
    });
    pools.push(limited);
    const calls = [0, 1, 2].map((i) => limited.evaluate('data.t.spin', { i }).catch((e: unknown) => e));
    const third = (await calls[2]) as ApiError;
    expect(third.code).toBe('ERR_SIDECAR_UNAVAILABLE');
    expect(((await calls[0]) as ApiError).code).toBe('ERR_POLICY_TIMEOUT');
  });
});

describe('PolicyPool with an opa-wasm bundle', () => {
  it('serves policy.wasm from the policy directory and ends a spinning wasm call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpod-wasm-'));
    try {
      writeFileSync(join(dir, 'authz.rego'), SIMPLE('ignored: the wasm bundle wins'));
      writeFileSync(join(dir, 'policy.wasm'), await assembleTestPolicyWasm());
      const set = readPolicySet(dir);
      expect(set.kind).toBe('wasm');
      const p = await PolicyPool.start({ set, size: 1, budgetMs: 30, logger });
      pools.push(p);
      expect(await p.evaluate('data.cpod.authz.decision', { role: 'admin' })).toEqual({
        defined: true,
        value: { allow: true, reason: 'admin' },
      });
      expect(await p.evaluate('cpod/authz/decision', { role: 'guest' })).toMatchObject({
        value: { allow: false },
      });
      // A wasm call cannot check a deadline; the watchdog ends the worker instead.
      expect((await rejection(p.evaluate('cpod/authz/spin', {}))).code).toBe('ERR_POLICY_TIMEOUT');
      expect(await p.evaluate('cpod/authz/decision', { role: 'admin' })).toMatchObject({
        value: { allow: true },
      });
      expect((await rejection(p.evaluate('cpod/authz/abort', {}))).code).toBe('ERR_POLICY_ERROR');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PolicyWatcher', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('hot-reloads on change, keeps the old policy on a broken edit, and reports each reload once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpod-policy-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'simple.rego'), SIMPLE('one'));
    const p = await PolicyPool.start({ set: readPolicySet(dir), size: 2, budgetMs: 100, logger });
    pools.push(p);
    const watcher = new PolicyWatcher(dir, p, logger, 20);
    watcher.start();
    const updates: PolicyUpdateEvent[] = [];
    const next = () =>
      new Promise<PolicyUpdateEvent>((resolve) => {
        const off = watcher.subscribe((u) => {
          off();
          resolve(u);
        });
      });
    watcher.subscribe((u) => updates.push(u));
    try {
      const first = next();
      writeFileSync(join(dir, 'simple.rego'), SIMPLE('two'));
      const update = await first;
      expect(update.modules).toEqual(['simple.rego']);
      expect(update.revision).toBe(p.revision);
      expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'two' });

      writeFileSync(join(dir, 'simple.rego'), 'package t\nanswer := \n');
      await watcher.reloadNow();
      expect(watcher.lastFailure?.message).toMatch(/simple\.rego:\d+:\d+/);
      expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'two' });

      const third = next();
      writeFileSync(join(dir, 'simple.rego'), SIMPLE('three'));
      await third;
      expect(watcher.lastFailure).toBeUndefined();
      expect(await p.evaluate('data.t.answer', {})).toEqual({ defined: true, value: 'three' });
      expect(updates.map((u) => u.revision)).toEqual([update.revision, p.revision]);
    } finally {
      watcher.close();
    }
  });
});
