/**
 * One error base for all of Accord. Every error carries a stable string code from the closed list below,
 * and a `retriable` flag that tells callers (and the pipeline runtime) whether trying again can help.
 * Codes are part of the public surface: tests, docs and operators match on them, never on message text.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'USAGE',
  'KAFKA_UNAVAILABLE',
  'KAFKA_CLIENT_UNPATCHED',
  'KAFKA_NOT_AUTHORIZED',
  'POSTGRES_UNAVAILABLE',
  'REDIS_UNAVAILABLE',
  'POSTGRES_QUERY_FAILED',
  'POSTGRES_DATA_REFUSED',
  'MIGRATION_FAILED',
  'STACK_PORT_BUSY',
  'STACK_JAVA_MISSING',
  'STACK_DOWNLOAD_FAILED',
  'STACK_START_FAILED',
  'SCHEMA_INVALID',
  'SCHEMA_VALIDATION_FAILED',
  'SCHEMA_NOT_FOUND',
  'SCHEMA_INCOMPATIBLE',
  'SCHEMA_REGISTRY_ERROR',
  'SCHEMA_REGISTRY_UNAVAILABLE',
  'WIRE_FORMAT_INVALID',
  'DECODE_FAILED',
  'EVENT_INVALID',
  'EVENT_TYPE_UNKNOWN',
  'TOPIC_NOT_FOUND',
  'PUBLISH_FAILED',
  'TOPIC_DRIFT',
  'PIPELINE_FENCED',
  'PIPELINE_HANDLER_FAILED',
  'PIPELINE_INVALID',
  'DECISION_TIMEOUT',
  'CONTEXT_STALE',
  'FEATURES_REBUILDING',
  'MODEL_CALL_FAILED',
  'NOT_FOUND',
] as const;

export type AccordErrorCode = (typeof ERROR_CODES)[number];

export interface AccordErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

export class AccordError extends Error {
  readonly code: AccordErrorCode;
  readonly retriable: boolean;

  constructor(code: AccordErrorCode, message: string, options: AccordErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Invalid configuration: names the option (or environment variable) and what was wrong with it. */
export class ConfigError extends AccordError {
  constructor(message: string, options: AccordErrorOptions = {}) {
    super('CONFIG_INVALID', message, { ...options, retriable: false });
  }
}

/** A command was called wrongly (unknown option, missing argument). */
export class UsageError extends AccordError {
  constructor(message: string) {
    super('USAGE', message, { retriable: false });
  }
}

/** A piece of infrastructure could not be reached. Always retriable: it may come back. */
export class UnavailableError extends AccordError {
  constructor(
    code: 'KAFKA_UNAVAILABLE' | 'POSTGRES_UNAVAILABLE' | 'REDIS_UNAVAILABLE' | 'SCHEMA_REGISTRY_UNAVAILABLE',
    message: string,
    options: AccordErrorOptions = {},
  ) {
    super(code, message, { ...options, retriable: true });
  }
}

/** The local stack (broker, database, cache) could not be brought up or down. */
export class StackError extends AccordError {
  constructor(
    code:
      | 'STACK_PORT_BUSY'
      | 'STACK_JAVA_MISSING'
      | 'STACK_DOWNLOAD_FAILED'
      | 'STACK_START_FAILED'
      | 'MIGRATION_FAILED',
    message: string,
    options: AccordErrorOptions = {},
  ) {
    super(code, message, { ...options, retriable: false });
  }
}

/** A schema that is not valid Avro (or not valid JSON). */
export class InvalidSchemaError extends AccordError {
  constructor(message: string, options: AccordErrorOptions = {}) {
    super('SCHEMA_INVALID', message, { ...options, retriable: false });
  }
}

/** A value that does not match its schema: names the field path and the expected type. Nothing was sent. */
export class SchemaValidationError extends AccordError {
  readonly issues: { path: string; expected: string; actual: string }[];
  constructor(message: string, issues: { path: string; expected: string; actual: string }[]) {
    super('SCHEMA_VALIDATION_FAILED', message, { retriable: false });
    this.issues = issues;
  }
}

/** Bytes that cannot be decoded: wrong magic byte, unknown schema id, or a body that does not decode. */
export class DecodeError extends AccordError {
  constructor(
    code: 'WIRE_FORMAT_INVALID' | 'SCHEMA_NOT_FOUND' | 'DECODE_FAILED',
    message: string,
    options: AccordErrorOptions = {},
  ) {
    super(code, message, { ...options, retriable: false });
  }
}

/** An answer from the schema registry: carries Confluent's error_code and the HTTP status. */
export class RegistryError extends AccordError {
  readonly status: number;
  readonly errorCode: number;
  constructor(status: number, errorCode: number, message: string) {
    super(
      errorCode === 409
        ? 'SCHEMA_INCOMPATIBLE'
        : errorCode === 40403
          ? 'SCHEMA_NOT_FOUND'
          : 'SCHEMA_REGISTRY_ERROR',
      message,
      { retriable: status >= 500 },
    );
    this.status = status;
    this.errorCode = errorCode;
  }
}

export function isAccordError(error: unknown): error is AccordError {
  return error instanceof AccordError;
}

/** The message of anything thrown, for one-line reports. */
export function describeError(error: unknown): string {
  // Duck-typed: errors from another realm (vm contexts, test sandboxes) are not `instanceof Error` here.
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const { message, name } = error as { message: unknown; name?: unknown };
    if (typeof message === 'string' && message !== '') return message;
    if (error instanceof AggregateError && error.errors.length)
      return error.errors.map(describeError).join('; ');
    if (typeof name === 'string') return name;
  }
  return String(error);
}

const KAFKA_UNREACHABLE = [
  'KafkaJSConnectionError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSConnectionClosedError',
];

/**
 * A Kafka outage that reached a caller as a kafkajs error (a broker's address refusing a connection while
 * it restarts, the client's retries running out), as the Accord error it is; undefined when it is not one. Callers that report errors (the CLI) use it so that an outage reads
 * KAFKA_UNAVAILABLE, never INTERNAL.
 */
export function asUnavailable(error: unknown): AccordError | undefined {
  const name = (error as { name?: unknown })?.name;
  if (typeof name === 'string' && KAFKA_UNREACHABLE.includes(name))
    return new UnavailableError('KAFKA_UNAVAILABLE', `Kafka is unavailable: ${describeError(error)}`, {
      cause: error,
    });
  return undefined;
}
