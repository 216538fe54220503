export {
  type Address,
  connectableHost,
  formatAddress,
  httpUrl,
  isLoopbackHost,
  parseAddress,
} from './config/address.js';
export {
  envToConfig,
  type PlatformConfig,
  type S3Config,
  type StoreConfig,
  type TlsFiles,
} from './config/config.js';
export { ConfigError, readEnv, type ServerEnv } from './config/env.js';
export { API_ERRORS, ApiError, type ApiErrorCode, type ApiErrorOptions, isApiErrorCode } from './errors.js';
export {
  type ConnectionInfo,
  type FetchHandler,
  type RunningHttpServer,
  startHttpServer,
} from './http-server.js';
export { isId, newId } from './ids.js';
export { exitOnStartupError, stopOnSignals } from './lifecycle.js';
export {
  createLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  redact,
  redactString,
} from './logger.js';
export { Counter, Gauge, Histogram, Registry } from './metrics.js';
export { PROBLEM_CONTENT_TYPE, type ProblemDetails, problemResponse, toProblem } from './problem.js';
export * from './storage/index.js';
export {
  AsyncLocalContextManager,
  MaskingSpanProcessor,
  type MetadataCarrier,
  maskAttributes,
  maskSpan,
  maskText,
  metadataGetter,
  metadataSetter,
  startTracing,
  type Tracing,
  type TracingOptions,
  tracesUrl,
} from './telemetry/index.js';
export { parseInput, readJsonBody, readTextBody } from './validation.js';
