#!/usr/bin/env node
import {
  createLogger,
  envToConfig,
  exitOnStartupError,
  readEnv,
  startTracing,
  stopOnSignals,
} from '@cpod/runtime';
import { startControlPlane } from './server.js';

const logger = createLogger({ fields: { service: 'control-plane' } });
try {
  const config = envToConfig(readEnv(process.env));
  if (config.env === 'production' && !config.adminToken) {
    throw new Error('CPOD_ADMIN_TOKEN is required when CORESDK_ENV=production');
  }
  const serviceLogger = createLogger({ level: config.logLevel, fields: { service: 'control-plane' } });
  // Before the service starts, so that its first request already runs under a tracer.
  const tracing = startTracing({
    serviceName: config.telemetry.serviceName ?? 'cpod-control-plane',
    otlpEndpoint: config.telemetry.otlpEndpoint,
    logger: serviceLogger,
  });
  const cp = await startControlPlane(config, serviceLogger);
  if (!config.adminToken) {
    // Printed once to the terminal on purpose (not to the log stream) so a developer can use it.
    process.stdout.write(`CPOD_ADMIN_TOKEN=${cp.adminToken}\n`);
  }
  // Spans still queued are exported after the listeners have closed.
  stopOnSignals(logger, () => cp.close().finally(() => tracing.shutdown()));
} catch (err) {
  exitOnStartupError(logger, err);
}
