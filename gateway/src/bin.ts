#!/usr/bin/env node
import { createLogger, envToConfig, exitOnStartupError, readEnv, stopOnSignals } from '@cpod/runtime';
import { startGateway } from './server.js';

const logger = createLogger({ fields: { service: 'gateway' } });
try {
  const config = envToConfig(readEnv(process.env));
  const gateway = await startGateway(
    config,
    createLogger({ level: config.logLevel, fields: { service: 'gateway' } }),
  );
  stopOnSignals(logger, () => gateway.close());
} catch (err) {
  exitOnStartupError(logger, err);
}
