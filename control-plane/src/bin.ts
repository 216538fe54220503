#!/usr/bin/env node
import { createLogger, envToConfig, exitOnStartupError, readEnv, stopOnSignals } from '@cpod/runtime';
import { startControlPlane } from './server.js';

const logger = createLogger({ fields: { service: 'control-plane' } });
try {
  const config = envToConfig(readEnv(process.env));
  if (config.env === 'production' && !config.adminToken) {
    throw new Error('CPOD_ADMIN_TOKEN is required when CORESDK_ENV=production');
  }
  const cp = await startControlPlane(
    config,
    createLogger({ level: config.logLevel, fields: { service: 'control-plane' } }),
  );
  if (!config.adminToken) {
    // Printed once to the terminal on purpose (not to the log stream) so a developer can use it.
    process.stdout.write(`CPOD_ADMIN_TOKEN=${cp.adminToken}\n`);
  }
  stopOnSignals(logger, () => cp.close());
} catch (err) {
  exitOnStartupError(logger, err);
}
