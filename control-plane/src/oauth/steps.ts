import type { Env, Handler, MiddlewareHandler } from 'hono';

/**
 * Runs named steps in order, each calling the next; the last one answers. A step may wrap
 * `next()` (to count failures or turn errors into pages) and answer instead.
 */
export function inOrder<E extends Env>(steps: MiddlewareHandler<E>[]): Handler<E> {
  return async (c) => {
    let response: Response | undefined;
    const run = async (i: number): Promise<void> => {
      const step = steps[i];
      if (!step) return;
      const result = await step(c, () => run(i + 1));
      if (result instanceof Response) response = result;
    };
    await run(0);
    if (!response) throw new Error('route ended without a response');
    return response;
  };
}
