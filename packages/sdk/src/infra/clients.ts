import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Kafka, type KafkaConfig, type LogEntry, logLevel } from 'kafkajs';
import pg from 'pg';
import type { KafkaLogLevel, ResolvedConfig } from '../config';
import { AccordError } from '../errors';
import { defaultLogger, type Logger } from '../telemetry/log';

const KAFKA_LOG_LEVEL: Record<KafkaLogLevel, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

/**
 * Factories for the infrastructure clients. This module (and the rest of @accord/sdk) is the only code
 * in Accord that imports kafkajs, pg or ioredis; other packages get clients from here.
 *
 * Retry settings differ between test mode and production, and are chosen here only:
 * tests want fast failure; services want patience through a broker restart.
 */
export function createKafka(
  config: ResolvedConfig,
  overrides: Partial<KafkaConfig> = {},
  logger: Logger = defaultLogger(),
): Kafka {
  checkKafkaClient();
  return new Kafka({
    clientId: config.kafka.clientId,
    brokers: config.kafka.brokers,
    logLevel: KAFKA_LOG_LEVEL[config.kafka.logLevel],
    logCreator: kafkaLogAdapter(logger),
    ...(config.kafka.sasl
      ? {
          sasl: {
            mechanism: config.kafka.sasl.mechanism,
            username: config.kafka.sasl.username,
            password: config.kafka.sasl.password,
          } as KafkaConfig['sasl'],
        }
      : {}),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: config.testMode
      ? { initialRetryTime: 100, retries: 5, maxRetryTime: 2000 }
      : { initialRetryTime: 300, retries: 8, maxRetryTime: 30000 },
    ...overrides,
  });
}

/** The patch's version, written in the file it patches: an older patch lacks a later fix. */
const PATCH_MARKER = 'accord-kafkajs-patch: 2';
let kafkaClientChecked = false;

/**
 * kafkajs 2.2.4 acknowledges records it never wrote in two cases (a partition's leader moving mid-retry; a
 * send after one that failed although written): see patches/kafkajs+2.2.4.patch, applied by npm's
 * postinstall. A client without the fixes could lose events silently, so Accord refuses to make one:
 * checked once per process, on the producer's source file.
 */
export function checkKafkaClient(file?: string): void {
  if (file === undefined && kafkaClientChecked) return;
  const path = file ?? require.resolve('kafkajs/src/producer/sendMessages.js');
  if (!readFileSync(path, 'utf8').includes(PATCH_MARKER))
    throw new AccordError(
      'KAFKA_CLIENT_UNPATCHED',
      `kafkajs at ${path} lacks Accord's fixes for acknowledged-but-unwritten sends (leader changes, failed sends); run npm install in the project (its postinstall applies patches/kafkajs+2.2.4.patch)`,
    );
  if (file === undefined) kafkaClientChecked = true;
}

/** kafkajs's lines as Accord's structured log lines: `component: kafkajs`, its namespace and fields. */
function kafkaLogAdapter(logger: Logger) {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = entry;
      const line = { namespace, ...fields };
      if (level <= logLevel.ERROR) log.error(line, message);
      else if (level === logLevel.WARN) log.warn(line, message);
      else if (level === logLevel.INFO) log.info(line, message);
      else log.debug(line, message);
    };
}

/**
 * Consumer group timings. A consumer that dies without leaving holds its partitions until its session
 * times out; tests kill consumers on purpose, so test mode uses the broker's minimum (6 s).
 */
export function consumerTimings(config: ResolvedConfig): {
  sessionTimeout: number;
  heartbeatInterval: number;
} {
  return config.testMode
    ? { sessionTimeout: 6000, heartbeatInterval: 1000 }
    : { sessionTimeout: 30000, heartbeatInterval: 3000 };
}

export function createPgPool(url: string, options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 5000, max: 10, ...options });
  // An idle client that loses its connection emits 'error' on the pool, a checked-out one (a transaction
  // between queries, a LISTEN) on itself; without a listener either would end the process (Postgres
  // restarted: found by the fault suite). Queries on a lost connection still fail, and are reported where
  // they are made; the pool drops the broken client when it is released.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

export interface RedisClientOptions {
  keyPrefix?: string;
  /** Reject commands at once while disconnected (default true): agents never wait silently on context. */
  failFast?: boolean;
  /** Reconnect after a lost connection (default true); health checks turn it off. */
  reconnect?: boolean;
}

/**
 * Connects a client made by createRedis if it is idle: 'wait', never connected (lazy), or 'end', a fail-fast
 * client that gave up reconnecting (three tries, ~2 s) while Redis was down and would otherwise refuse
 * every command for good ("Connection is closed."). A Redis still down refuses at once: nothing waits.
 */
export async function connectIfIdle(redis: Redis): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') await redis.connect().catch(() => {});
}

export function createRedis(url: string, options: RedisClientOptions = {}): Redis {
  const failFast = options.failFast ?? true;
  const reconnect = options.reconnect ?? true;
  const redis = new Redis(url, {
    lazyConnect: true,
    keyPrefix: options.keyPrefix,
    connectTimeout: 3000,
    // Fail fast: agents must never wait silently on missing context. A command issued while Redis is
    // down is rejected at once instead of queueing.
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : 20,
    retryStrategy: (times: number) =>
      !reconnect || (failFast && times > 3) ? null : Math.min(times * 200, 2000),
  });
  redis.on('error', () => {});
  return redis;
}
