import type { Logger } from './logger.js';

/**
 * Runs `stop` once on SIGINT/SIGTERM and then exits; a second signal exits at once.
 * Every service's bin.ts ends with this, so Ctrl-C always closes listeners and stores.
 */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info('stopping', { signal });
    const force = setTimeout(() => {
      logger.error('forced exit: shutdown took longer than 10 s');
      process.exit(1);
    }, 10_000);
    force.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('error while stopping', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Prints a start-up failure without a stack trace (configuration errors are for operators) and exits. */
export function exitOnStartupError(logger: Logger, err: unknown): never {
  logger.error('failed to start', { err: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
