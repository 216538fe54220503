import { isSpanContextValid, trace } from '@opentelemetry/api';

/**
 * JSON-lines logger. Secrets never reach a log line: values under sensitive keys are
 * replaced, and anything shaped like a JWT or a bearer credential is masked wherever it
 * appears, because tokens end up in error messages and URLs more often than in fields.
 * A line written while a span is active carries its `trace_id` and `span_id`, so the
 * gateway's and the sidecar's lines of one request can be joined (see telemetry/).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SENSITIVE_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|signature/i;
const JWT = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;
const BEARER = /\b(Bearer|Basic)\s+[\w\-.~+/=]+/gi;

export function redactString(value: string): string {
  return value.replace(JWT, '[redacted-jwt]').replace(BEARER, '$1 [redacted]');
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[truncated]';
  if (value instanceof Error) {
    return { name: value.name, message: redactString(value.message), ...redactObject(value, depth) };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return redactObject(value, depth);
}

function redactObject(value: object, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) && v != null && v !== '' ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stderr so that stdout stays free for program output. */
  write?: (line: string) => void;
  fields?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.fields ?? {};
  const log = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    const span = trace.getActiveSpan()?.spanContext();
    const record = {
      time: new Date().toISOString(),
      level,
      msg: redactString(msg),
      ...(span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {}),
      ...redactObject({ ...base, ...fields }, 0),
    };
    write(JSON.stringify(record));
  };
  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}
