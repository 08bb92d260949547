import { existsSync } from 'node:fs';
import { ConfigError } from '../errors';
import { readSecret, readSecretFile } from './secrets';

/**
 * Configuration travels in three stages, each its own type:
 *   AccordOptions (what a caller passes) → environment → defaults → ResolvedConfig (validated, complete).
 * Precedence: explicit option > environment variable > default.
 */
export interface AccordOptions {
  /** Kafka bootstrap brokers, e.g. ['127.0.0.1:9092']. Env: KAFKA_BROKERS (comma separated). */
  kafkaBrokers?: string[];
  /** Postgres connection URL. Env: DATABASE_URL. */
  databaseUrl?: string;
  /** Redis connection URL. Env: REDIS_URL. */
  redisUrl?: string;
  /** Confluent-compatible schema registry URL. Env: SCHEMA_REGISTRY_URL. */
  schemaRegistryUrl?: string;
  /** Name this process reports to Kafka and in telemetry. Env: ACCORD_CLIENT_ID. */
  clientId?: string;
  /** kafkajs log level (its lines go through Accord's logger). Env: ACCORD_KAFKA_LOG_LEVEL. Default 'error'. */
  kafkaLogLevel?: KafkaLogLevel;
  /**
   * Bytes one fetch of a pipeline may bring, all partitions together (a pipeline's fetchMaxBytes overrides
   * it). Env: ACCORD_FETCH_MAX_BYTES. Default 4 MiB. What a consuming process holds follows it, not the
   * backlog: docs/pipelines.md, Performance.
   */
  kafkaFetchMaxBytes?: number;
  /** Accord's structured (JSON) log level. Env: ACCORD_LOG_LEVEL. Default 'info'. */
  logLevel?: LogLevel;
  /**
   * Kafka SASL credentials. Env: KAFKA_SASL_USERNAME with KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE
   * (mode 0600), KAFKA_SASL_MECHANISM (default scram-sha-512). Without them, the local stack's secret of
   * `kafkaPrincipal` is used when `accord up` made one; `false` connects without authentication.
   */
  kafkaSasl?: KafkaSasl | false;
  /** Whose local secret to use when no credentials are given. Default accord-admin (the operator). */
  kafkaPrincipal?: string;
}

export const SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];
export interface KafkaSasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}
/** The operator's principal on the local stack (a Kafka super user). */
export const ADMIN_PRINCIPAL = 'accord-admin';

export type ConfigSource = 'option' | 'env' | 'default';

export const KAFKA_LOG_LEVELS = ['nothing', 'error', 'warn', 'info', 'debug'] as const;
export type KafkaLogLevel = (typeof KAFKA_LOG_LEVELS)[number];
export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ResolvedConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    source: ConfigSource;
    logLevel: KafkaLogLevel;
    fetchMaxBytes: number;
    /** Absent: no authentication. Never printed: see describeKafkaAuth. */
    sasl?: KafkaSasl & { source: ConfigSource | 'local secret' };
  };
  postgres: { url: string; source: ConfigSource };
  redis: { url: string; source: ConfigSource };
  schemaRegistry: { url: string; source: ConfigSource };
  log: { level: LogLevel };
  /** True when NODE_ENV=test or CI is set: fast retries, chosen here and nowhere else. */
  testMode: boolean;
}

export const DEFAULTS = {
  kafkaBrokers: '127.0.0.1:9092',
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/accord',
  redisUrl: 'redis://127.0.0.1:6379',
  schemaRegistryUrl: 'http://127.0.0.1:8081',
  clientId: 'accord',
} as const;

type Env = Record<string, string | undefined>;

function pick<T>(option: T | undefined, env: string | undefined, fallback: T, parseEnv: (raw: string) => T) {
  if (option !== undefined) return { value: option, source: 'option' as const };
  if (env !== undefined && env.trim() !== '') return { value: parseEnv(env.trim()), source: 'env' as const };
  return { value: fallback, source: 'default' as const };
}

function splitBrokers(raw: string): string[] {
  return raw
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

export function validateBrokers(brokers: string[], name: string): string[] {
  if (brokers.length === 0) throw new ConfigError(`${name} is empty: give at least one host:port`);
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/]+):(\d{1,5})$/.exec(broker);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError(
        `${name} has an invalid broker "${broker}": expected host:port, e.g. 127.0.0.1:9092`,
      );
    }
  }
  return brokers;
}

export function validateUrl(raw: string, name: string, protocols: string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(
      `${name} must use ${protocols.map((p) => p.replace(/:$/, '://')).join(' or ')}, got "${url.protocol}//"`,
    );
  }
  if (url.hostname === '') throw new ConfigError(`${name} has no host: "${raw}"`);
  return raw;
}

export function resolveConfig(options: AccordOptions = {}, env: Env = process.env): ResolvedConfig {
  const brokers = pick(options.kafkaBrokers, env.KAFKA_BROKERS, [DEFAULTS.kafkaBrokers], splitBrokers);
  const database = pick(options.databaseUrl, env.DATABASE_URL, DEFAULTS.databaseUrl, (s) => s);
  const redis = pick(options.redisUrl, env.REDIS_URL, DEFAULTS.redisUrl, (s) => s);
  const registry = pick(
    options.schemaRegistryUrl,
    env.SCHEMA_REGISTRY_URL,
    DEFAULTS.schemaRegistryUrl,
    (s) => s,
  );
  const clientId = pick(options.clientId, env.ACCORD_CLIENT_ID, DEFAULTS.clientId, (s) => s);
  const kafkaLogLevel = pick<string>(options.kafkaLogLevel, env.ACCORD_KAFKA_LOG_LEVEL, 'error', (s) =>
    s.toLowerCase(),
  );

  const logLevel = pick<string>(options.logLevel, env.ACCORD_LOG_LEVEL, 'info', (s) => s.toLowerCase());
  const fetchMaxBytes = pick<number>(
    options.kafkaFetchMaxBytes,
    env.ACCORD_FETCH_MAX_BYTES,
    4 * 1024 * 1024,
    (s) => (/^\d+$/.test(s.trim()) ? Number(s) : Number.NaN),
  );

  const label = (source: ConfigSource, option: string, envName: string) =>
    source === 'option' ? `option ${option}` : envName;

  if (!/^[A-Za-z0-9._-]{1,200}$/.test(clientId.value)) {
    throw new ConfigError(
      `${label(clientId.source, 'clientId', 'ACCORD_CLIENT_ID')} must be 1-200 characters of letters, digits, '.', '_' or '-', got "${clientId.value}"`,
    );
  }

  if (!(KAFKA_LOG_LEVELS as readonly string[]).includes(kafkaLogLevel.value)) {
    throw new ConfigError(
      `${label(kafkaLogLevel.source, 'kafkaLogLevel', 'ACCORD_KAFKA_LOG_LEVEL')} must be one of ${KAFKA_LOG_LEVELS.join(', ')}, got "${kafkaLogLevel.value}"`,
    );
  }

  if (!Number.isInteger(fetchMaxBytes.value) || fetchMaxBytes.value < 1024) {
    throw new ConfigError(
      `${label(fetchMaxBytes.source, 'kafkaFetchMaxBytes', 'ACCORD_FETCH_MAX_BYTES')} must be a whole number of bytes, at least 1024, got "${String(options.kafkaFetchMaxBytes ?? env.ACCORD_FETCH_MAX_BYTES)}"`,
    );
  }

  if (!(LOG_LEVELS as readonly string[]).includes(logLevel.value)) {
    throw new ConfigError(
      `${label(logLevel.source, 'logLevel', 'ACCORD_LOG_LEVEL')} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel.value}"`,
    );
  }

  const sasl = resolveSasl(options, env);
  return {
    log: { level: logLevel.value as LogLevel },
    kafka: {
      brokers: validateBrokers(brokers.value, label(brokers.source, 'kafkaBrokers', 'KAFKA_BROKERS')),
      clientId: clientId.value,
      source: brokers.source,
      logLevel: kafkaLogLevel.value as KafkaLogLevel,
      fetchMaxBytes: fetchMaxBytes.value,
      ...(sasl ? { sasl } : {}),
    },
    postgres: {
      url: validateUrl(database.value, label(database.source, 'databaseUrl', 'DATABASE_URL'), [
        'postgres:',
        'postgresql:',
      ]),
      source: database.source,
    },
    redis: {
      url: validateUrl(redis.value, label(redis.source, 'redisUrl', 'REDIS_URL'), ['redis:', 'rediss:']),
      source: redis.source,
    },
    schemaRegistry: {
      url: validateUrl(registry.value, label(registry.source, 'schemaRegistryUrl', 'SCHEMA_REGISTRY_URL'), [
        'http:',
        'https:',
      ]),
      source: registry.source,
    },
    testMode: env.NODE_ENV === 'test' || (env.CI !== undefined && env.CI !== '' && env.CI !== 'false'),
  };
}

function resolveSasl(
  options: AccordOptions,
  env: Env,
): (KafkaSasl & { source: ConfigSource | 'local secret' }) | undefined {
  if (options.kafkaSasl === false) return undefined;
  if (options.kafkaSasl) return { ...validSasl(options.kafkaSasl, 'option kafkaSasl'), source: 'option' };
  const username = env.KAFKA_SASL_USERNAME?.trim();
  if (username) {
    let password = env.KAFKA_SASL_PASSWORD;
    if (!password && env.KAFKA_SASL_PASSWORD_FILE) {
      if (!existsSync(env.KAFKA_SASL_PASSWORD_FILE))
        throw new ConfigError(`KAFKA_SASL_PASSWORD_FILE ${env.KAFKA_SASL_PASSWORD_FILE} does not exist`);
      password = readSecretFile(env.KAFKA_SASL_PASSWORD_FILE, 'KAFKA_SASL_PASSWORD_FILE');
    }
    if (!password)
      throw new ConfigError(
        'KAFKA_SASL_USERNAME is set but neither KAFKA_SASL_PASSWORD nor KAFKA_SASL_PASSWORD_FILE',
      );
    const mechanism = (env.KAFKA_SASL_MECHANISM?.trim().toLowerCase() || 'scram-sha-512') as SaslMechanism;
    return { ...validSasl({ mechanism, username, password }, 'KAFKA_SASL_*'), source: 'env' };
  }
  // The local stack: its secrets sit under the state dir (a private stack's under its ACCORD_STATE_DIR).
  const principal = options.kafkaPrincipal ?? ADMIN_PRINCIPAL;
  const password = readSecret('kafka', principal, env);
  if (password === undefined) return undefined;
  return { mechanism: 'scram-sha-512', username: principal, password, source: 'local secret' };
}

function validSasl(sasl: KafkaSasl, name: string): KafkaSasl {
  if (!(SASL_MECHANISMS as readonly string[]).includes(sasl.mechanism))
    throw new ConfigError(
      `${name}: mechanism must be one of ${SASL_MECHANISMS.join(', ')}, got "${sasl.mechanism}"`,
    );
  if (!sasl.username) throw new ConfigError(`${name}: username is empty`);
  if (!sasl.password) throw new ConfigError(`${name}: password is empty`);
  return sasl;
}

/** How this config authenticates to Kafka, without the secret: for status output and logs. */
export function describeKafkaAuth(config: ResolvedConfig): string {
  const sasl = config.kafka.sasl;
  return sasl
    ? `SASL ${sasl.mechanism.toUpperCase()} as ${sasl.username} (${sasl.source})`
    : 'no authentication';
}

/** A URL with its password replaced, for logs and status output. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (!url.password) return raw; // as given: no normalising (a trailing slash) when nothing is hidden
    url.password = '***';
    return url.toString();
  } catch {
    return raw;
  }
}
