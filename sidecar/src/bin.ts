#!/usr/bin/env node
import {
  createLogger,
  envToConfig,
  exitOnStartupError,
  readEnv,
  startTracing,
  stopOnSignals,
} from '@cpod/runtime';
import { startSidecar } from './server.js';

const logger = createLogger({ fields: { service: 'sidecar' } });
try {
  const config = envToConfig(readEnv(process.env));
  const serviceLogger = createLogger({ level: config.logLevel, fields: { service: 'sidecar' } });
  // Before the service starts, so that its first request already runs under a tracer.
  const tracing = startTracing({
    serviceName: config.telemetry.serviceName ?? 'cpod-sidecar',
    otlpEndpoint: config.telemetry.otlpEndpoint,
    logger: serviceLogger,
  });
  const sidecar = await startSidecar(config, serviceLogger);
  // Spans still queued are exported after the listeners have closed.
  stopOnSignals(logger, () => sidecar.close().finally(() => tracing.shutdown()));
} catch (err) {
  exitOnStartupError(logger, err);
}
