#!/usr/bin/env node
import {
  createLogger,
  envToConfig,
  exitOnStartupError,
  readEnv,
  startTracing,
  stopOnSignals,
} from '@cpod/runtime';
import { startGateway } from './server.js';

const logger = createLogger({ fields: { service: 'gateway' } });
try {
  const config = envToConfig(readEnv(process.env));
  const serviceLogger = createLogger({ level: config.logLevel, fields: { service: 'gateway' } });
  // Before the service starts, so that its first request already runs under a tracer.
  const tracing = startTracing({
    serviceName: config.telemetry.serviceName ?? 'cpod-gateway',
    otlpEndpoint: config.telemetry.otlpEndpoint,
    logger: serviceLogger,
  });
  const gateway = await startGateway(config, serviceLogger);
  // Spans still queued are exported after the listeners have closed.
  stopOnSignals(logger, () => gateway.close().finally(() => tracing.shutdown()));
} catch (err) {
  exitOnStartupError(logger, err);
}
