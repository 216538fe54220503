import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * OpenTelemetry context carried by AsyncLocalStorage, so that the active span follows
 * promises and callbacks without being passed around: a log line written deep in a
 * handler still knows its trace. (The upstream package for this is not a dependency;
 * this is the part of it we need.)
 *
 * `bind` binds functions only: nothing in the platform binds event emitters, and doing
 * that right means patching their listener methods.
 */
export class AsyncLocalContextManager implements ContextManager {
  private storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const target = thisArg === undefined ? fn : fn.bind(thisArg);
    return this.storage.run(context, target, ...args);
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as (...args: unknown[]) => unknown;
    const manager = this;
    // A plain function (not an arrow) so that the bound function keeps its caller's `this`.
    const bound = function (this: unknown, ...args: unknown[]) {
      return manager.with(context, () => fn.apply(this, args));
    };
    return bound as T;
  }

  enable(): this {
    return this;
  }

  /** Forgets every active context: what ran before is no longer visible to what runs after. */
  disable(): this {
    this.storage.disable();
    this.storage = new AsyncLocalStorage<Context>();
    return this;
  }
}
