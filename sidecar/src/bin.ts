#!/usr/bin/env node
import { createLogger, envToConfig, exitOnStartupError, readEnv, stopOnSignals } from '@cpod/runtime';
import { startSidecar } from './server.js';

const logger = createLogger({ fields: { service: 'sidecar' } });
try {
  const config = envToConfig(readEnv(process.env));
  const sidecar = await startSidecar(
    config,
    createLogger({ level: config.logLevel, fields: { service: 'sidecar' } }),
  );
  stopOnSignals(logger, () => sidecar.close());
} catch (err) {
  exitOnStartupError(logger, err);
}
