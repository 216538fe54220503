import { setTimeout as sleep } from 'node:timers/promises';
import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { AsyncLocalContextManager } from './context-manager.js';

const KEY = createContextKey('test key');
const withValue = (value: string) => ROOT_CONTEXT.setValue(KEY, value);

describe('AsyncLocalContextManager', () => {
  it('is the root context outside any `with`', () => {
    expect(new AsyncLocalContextManager().active()).toBe(ROOT_CONTEXT);
  });

  it('follows awaits, timers and nested calls, and restores the outer context', async () => {
    const manager = new AsyncLocalContextManager();
    const seen: unknown[] = [];
    await manager.with(withValue('outer'), async () => {
      await sleep(5);
      seen.push(manager.active().getValue(KEY));
      await manager.with(withValue('inner'), async () => {
        await new Promise((r) => setTimeout(r, 5));
        seen.push(manager.active().getValue(KEY));
      });
      seen.push(manager.active().getValue(KEY));
    });
    seen.push(manager.active().getValue(KEY));
    expect(seen).toEqual(['outer', 'inner', 'outer', undefined]);
  });

  it('keeps concurrent contexts apart', async () => {
    const manager = new AsyncLocalContextManager();
    const run = (value: string, delay: number) =>
      manager.with(withValue(value), async () => {
        await sleep(delay);
        return manager.active().getValue(KEY);
      });
    expect(await Promise.all([run('a', 20), run('b', 1), run('c', 10)])).toEqual(['a', 'b', 'c']);
  });

  it('passes this and arguments through `with`', () => {
    const manager = new AsyncLocalContextManager();
    const target = {
      factor: 3,
      times(this: { factor: number }, n: number) {
        return this.factor * n;
      },
    };
    expect(manager.with(ROOT_CONTEXT, target.times, target, 4)).toBe(12);
  });

  it('binds a function to a context whatever context calls it later', () => {
    const manager = new AsyncLocalContextManager();
    const bound = manager.bind(withValue('bound'), () => manager.active().getValue(KEY));
    expect(manager.with(withValue('caller'), bound)).toBe('bound');
    const notAFunction = { x: 1 };
    expect(manager.bind(withValue('bound'), notAFunction)).toBe(notAFunction);
  });

  it('forgets the active context when disabled', () => {
    const manager = new AsyncLocalContextManager();
    manager.with(withValue('before'), () => {
      manager.disable();
      expect(manager.active()).toBe(ROOT_CONTEXT);
    });
  });
});
