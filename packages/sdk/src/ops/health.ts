import { logLevel } from 'kafkajs';
import type { ResolvedConfig } from '../config';
import { describeError } from '../errors';
import { createKafka, createPgPool, createRedis } from '../infra/clients';

export interface HealthReport {
  ok: boolean;
  /** Human-readable detail: a version, a topic count, or why it failed. */
  detail: string;
  /** The underlying error's code (ECONNREFUSED, a SQLSTATE, …) when the check failed. */
  errorCode?: string;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  if (error instanceof AggregateError) return error.errors.map(errorCode).find((c) => c !== undefined);
  return undefined;
}

function failure(error: unknown): HealthReport {
  const code = errorCode(error);
  return {
    ok: false,
    detail: describeError(error) || code || 'unknown error',
    ...(code ? { errorCode: code } : {}),
  };
}

/** Healthy when kafkajs can connect and list topics. */
export async function checkKafka(config: ResolvedConfig): Promise<HealthReport> {
  const admin = createKafka(config, {
    retry: { retries: 0 },
    connectionTimeout: 2000,
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    const cluster = await admin.describeCluster();
    return { ok: true, detail: `${cluster.brokers.length} broker(s), ${topics.length} topic(s)` };
  } catch (error) {
    return failure(error);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Healthy when a connection answers `select version()`. */
export async function checkPostgres(url: string): Promise<HealthReport> {
  const pool = createPgPool(url, { max: 1, connectionTimeoutMillis: 3000 });
  try {
    const result = await pool.query<{ version: string }>('select current_setting($1) as version', [
      'server_version',
    ]);
    return { ok: true, detail: `PostgreSQL ${result.rows[0]?.version ?? '?'}` };
  } catch (error) {
    return failure(error);
  } finally {
    await pool.end().catch(() => {});
  }
}

/** Healthy when Redis answers PING. */
export async function checkRedis(url: string): Promise<HealthReport> {
  const redis = createRedis(url, { reconnect: false });
  // ioredis rejects connect() with a generic "Connection is closed."; the cause arrives as an 'error' event.
  let lastError: unknown;
  redis.on('error', (error: unknown) => {
    lastError = error;
  });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? '?';
    await redis.ping();
    return { ok: true, detail: `Redis ${version}` };
  } catch (error) {
    return failure(lastError ?? error);
  } finally {
    redis.disconnect();
  }
}

/** Healthy when the registry answers GET /subjects with a JSON array. */
export async function checkSchemaRegistry(url: string): Promise<HealthReport> {
  try {
    const response = await fetch(new URL('/subjects', url), { signal: AbortSignal.timeout(3000) });
    if (!response.ok) return { ok: false, detail: `GET /subjects answered HTTP ${response.status}` };
    const body: unknown = await response.json();
    return { ok: true, detail: `${Array.isArray(body) ? body.length : '?'} subject(s)` };
  } catch (error) {
    // fetch() rejects with "fetch failed"; the socket error (ECONNREFUSED, …) is its cause.
    const cause = (error as { cause?: unknown } | undefined)?.cause ?? error;
    return failure(cause);
  }
}
