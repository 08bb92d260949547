import pino from 'pino';
import { LOG_LEVELS, type LogLevel } from '../config';

/**
 * Structured JSON logging (pino): one object per line with `level`, `time`, the component's bindings
 * (service, pipeline, group, …) and `msg`. Trace ids join through child bindings (docs/telemetry.md).
 * The type is the SDK's own, so no pino type is part of the public face.
 */
export interface Logger {
  fatal(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  readonly level: string;
}

export interface LoggerOptions {
  /** Bound into every line (e.g. { service: 'archive' }). */
  bindings?: Record<string, unknown>;
  level?: LogLevel;
  /** 1 (stdout: a service, whose whole output is its log) or 2 (stderr: default, keeps a CLI's stdout clean). */
  fd?: 1 | 2;
}

// Secrets never reach a log line, whatever a caller binds (URLs are redacted by redactUrl before logging).
const REDACT = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { error: pino.stdSerializers.err },
    },
    // Synchronous writes: a line logged just before exit (a fatal start error) is never lost.
    pino.destination({ fd: options.fd ?? 2, sync: true }),
  );
}

let root: Logger | undefined;

/** The process's default logger (stderr, ACCORD_LOG_LEVEL): what components log to when given none. */
export function defaultLogger(): Logger {
  root ??= createLogger({ level: levelFromEnv() });
  return root;
}

function levelFromEnv(): LogLevel {
  const raw = (process.env.ACCORD_LOG_LEVEL ?? 'info').toLowerCase();
  return ((LOG_LEVELS as readonly string[]).includes(raw) ? raw : 'info') as LogLevel;
}
