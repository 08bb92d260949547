import { type ParseArgsConfig, parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { createAccord, type SomeAccord } from '../accord';
import { ADMIN_PRINCIPAL, type ResolvedConfig, redactUrl, resolveConfig } from '../config';
import { readSecret } from '../config/secrets';
import { serviceFetchMaxBytes, serviceNodeFlags } from '../config/service-profile';
import { AccordError, describeError, isAccordError } from '../errors';
import type { SomeCatalog } from '../events/catalog';
import { backoffMs, isTransient } from '../infra/retry';
import type { SqlPool } from '../infra/sql';
import { createLogger, type Logger } from '../telemetry/log';
import { openTelemetryFor } from '../telemetry/otel';

/**
 * What every Accord service does the same way: log in to Postgres as its own least-privilege role,
 * refuse to run as a superuser, and run until SIGTERM or SIGINT.
 */

/**
 * `env[variable]` when set, else DATABASE_URL with the service's role as the user and its password from
 * the local stack's secret (accord up sets it; ops/passwords.ts).
 */
export function serviceDatabaseUrl(
  role: string,
  variable: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const explicit = env[variable];
  if (explicit) return explicit;
  const url = new URL(resolveConfig({}, env).postgres.url);
  url.username = role;
  url.password = readSecret('postgres', role, env) ?? '';
  return url.toString();
}

/** Throws when the pool's login is a Postgres superuser (or Postgres cannot be used at all). */
export async function refuseSuperuser(
  pool: SqlPool,
  service: string,
  url: string,
  role: string,
): Promise<void> {
  let superuser: boolean | undefined;
  try {
    const { rows } = await pool.query<{ rolsuper: boolean }>(
      'select rolsuper from pg_roles where rolname = current_user',
    );
    superuser = rows[0]?.rolsuper;
  } catch (error) {
    // Refused credentials or a database that does not exist will not heal by waiting (28P01, 28000,
    // 3D000): said at once. Anything else (a timeout, a restart) is tried again by runService.
    const code = (error as { code?: unknown }).code;
    throw new AccordError(
      'POSTGRES_UNAVAILABLE',
      `${service}: cannot use Postgres at ${redactUrl(url)}: ${describeError(error)}`,
      {
        cause: error,
        retriable: !['28P01', '28000', '3D000'].includes(String(code)),
      },
    );
  }
  if (superuser) {
    throw new AccordError(
      'CONFIG_INVALID',
      `${service}: refusing to run as a Postgres superuser (${redactUrl(url)}): use the ${role} role`,
    );
  }
}

/** Resolves with the signal's name on the first SIGTERM or SIGINT. */
export function untilSignal(): Promise<'SIGTERM' | 'SIGINT'> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

export interface ServiceContext<V> {
  /** Parsed command-line options. */
  values: V;
  /** The service's context: pipelines, owners, feature pipelines made from it share its pool and log. */
  accord: SomeAccord;
  config: ResolvedConfig;
  /** Postgres as the service's own least-privilege role (checked not to be a superuser). */
  pool: SqlPool;
  databaseUrl: string;
  /** The service's structured log (JSON lines on stdout, bound with `service`): give it to what it makes. */
  log: Logger;
}

export interface RunningService {
  /** Logged once the service runs ("running"), e.g. { port } or { group, topics }. */
  running: Record<string, unknown>;
  /** Stops cleanly; returns fields to log with "stopped" (e.g. counts). */
  stop: (signal: 'SIGTERM' | 'SIGINT') => Promise<Record<string, unknown> | undefined>;
}

export interface ServiceDefinition<V> {
  /** Short name used in every line the service prints, e.g. "archive". */
  name: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** The Postgres role it logs in as, and the variable that overrides its URL. */
  role: string;
  databaseUrlVariable: string;
  poolSize?: number;
  /** False for a service that never talks to Kafka (the registry): it needs no Kafka principal. */
  usesKafka?: boolean;
  /** The domain the service's pipelines decode and publish (default: platform records only). */
  catalog?: SomeCatalog;
  /** How long transient start failures (Kafka not ready, Postgres restarting) are retried. Default 60 s. */
  startTimeoutMs?: number;
  start: (ctx: ServiceContext<V>) => Promise<RunningService>;
}

/**
 * The life of every Accord service, written once: options (exit 2 naming the bad one), --help,
 * configuration, Postgres as the service's own role (a superuser is refused), start (exit 1 with the
 * reason), then run until SIGTERM or SIGINT and stop cleanly. Returns the exit code.
 */
export async function runService<V extends Record<string, unknown>>(
  def: ServiceDefinition<V>,
  argv: string[] = process.argv.slice(2),
): Promise<number> {
  let values: V;
  try {
    values = parseArgs({
      args: argv,
      options: { ...def.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values as V;
  } catch (error) {
    // Usage is for a person at a terminal: plain text, exit 2.
    process.stderr.write(`${def.name}: ${describeError(error)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${def.help}\n`);
    return 0;
  }
  let config: ResolvedConfig;
  try {
    // Kafka as the service's own principal, named like its Postgres role (docs/security.md).
    // Services fetch 512 KiB at once (some less) unless told otherwise: what they hold stays bounded
    // (service-profile.ts).
    const fetchMaxBytes = serviceFetchMaxBytes(process.env, def.name);
    config = resolveConfig({
      kafkaPrincipal: def.role,
      ...(fetchMaxBytes === undefined ? {} : { kafkaFetchMaxBytes: fetchMaxBytes }),
    });
    if (def.usesKafka !== false && !config.kafka.sasl && readSecret('kafka', ADMIN_PRINCIPAL) !== undefined) {
      throw new AccordError(
        'CONFIG_INVALID',
        `no Kafka credentials for ${def.role}: the local stack makes them (accord up for platform services and owners, accord principals add for others), or set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      );
    }
  } catch (error) {
    process.stderr.write(`${def.name}: ${describeError(error)}\n`);
    return 2;
  }
  // From here on, everything the service says is a JSON line on stdout.
  const log = createLogger({ level: config.log.level, fd: 1, bindings: { service: def.name } });
  // Before the context: its metrics read the global meter once. OTEL_SDK_DISABLED=true turns it off.
  const otel = openTelemetryFor(def.name);
  const stopTelemetry = async () => {
    const dropped = otel?.dropped() ?? 0;
    if (dropped > 0)
      log.warn({ dropped, reason: otel?.dropReason() }, 'telemetry the collector did not take was dropped');
    await otel?.shutdown();
  };
  let metricsPort: number | undefined;
  const wantedPort = process.env.ACCORD_METRICS_PORT;
  if (otel && wantedPort !== undefined && wantedPort !== '') {
    const port = Number(wantedPort);
    try {
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new AccordError(
          'CONFIG_INVALID',
          `ACCORD_METRICS_PORT must be a port number, got "${wantedPort}"`,
        );
      metricsPort = await otel.serveMetrics(port, process.env.ACCORD_METRICS_HOST ?? '127.0.0.1');
    } catch (error) {
      log.fatal({ error: errorFields(error) }, describeError(error));
      await stopTelemetry();
      return 2;
    }
  }
  const databaseUrl = serviceDatabaseUrl(def.role, def.databaseUrlVariable);
  const accord = createAccord({
    databaseUrl,
    kafkaPrincipal: def.role,
    // The service's fetch size reaches its pipelines (until the eleventh session it stopped at `config`
    // above, and services fetched the library's 4 MiB unless ACCORD_FETCH_MAX_BYTES was set).
    kafkaFetchMaxBytes: config.kafka.fetchMaxBytes,
    logger: log,
    poolSize: def.poolSize ?? 4,
    ...(def.catalog ? { catalog: def.catalog } : {}),
  });
  const pool = accord.pool();
  let running: RunningService | undefined;
  let checked = false;
  const deadline = Date.now() + (def.startTimeoutMs ?? 60_000);
  for (let attempt = 1; !running; attempt++) {
    try {
      // The role's check is the first query: a Postgres that cannot take the connection yet (restarting,
      // or a loaded machine: a fault run saw "connection timeout" kill two services at start) is retried
      // like any transient start failure; a superuser is refused at once (not transient).
      if (!checked) await refuseSuperuser(pool, def.name, databaseUrl, def.role);
      checked = true;
      running = await def.start({ values, accord, config: accord.config, pool, databaseUrl, log });
    } catch (error) {
      // A broker that just started (no partition leaders yet) or a restarting database: try again, said.
      const wait = backoffMs(attempt, 500, 5000);
      if (isTransient(error) && Date.now() + wait < deadline) {
        log.warn({ error: errorFields(error), retryInMs: wait, attempt }, 'start failed; retrying');
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      // The role check's refusal says it all (it names the service); a start's failure says it could not start.
      log.fatal(
        { error: errorFields(error) },
        checked ? `cannot start: ${describeError(error)}` : describeError(error),
      );
      await accord.close();
      await stopTelemetry();
      return isAccordError(error) && error.code === 'USAGE' ? 2 : 1;
    }
  }
  // The heap ceiling is what bounds a busy service's memory (config/service-profile.ts): said, and a
  // process started without one (V8's default is gigabytes) is told so.
  const heapLimitMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  if (heapLimitMb > 1024)
    log.warn(
      { heapLimitMb, flags: serviceNodeFlags({}, def.name).join(' ') },
      "no heap ceiling: started without the service profile's V8 flags, its memory grows with its load",
    );
  log.info(
    {
      ...running.running,
      heapLimitMb,
      fetchMaxBytes: accord.config.kafka.fetchMaxBytes,
      ...(metricsPort !== undefined ? { metricsPort } : {}),
    },
    'running',
  );
  const signal = await untilSignal();
  log.info({ signal }, 'stopping');
  const summary = await running.stop(signal);
  await accord.close();
  await stopTelemetry();
  log.info(summary ?? {}, 'stopped');
  return 0;
}

/** An error as log fields: its stable code when it is ours, and its message. */
function errorFields(error: unknown): Record<string, unknown> {
  return isAccordError(error)
    ? { code: error.code, message: error.message, retriable: error.retriable }
    : { message: describeError(error) };
}
