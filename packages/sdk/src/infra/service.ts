import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type ResolvedConfig, redactUrl, resolveConfig } from '../config';
import { AccordError, describeError, isAccordError } from '../errors';
import { createPgPool } from './clients';
import { isTransient } from './retry';
import type { SqlPool } from './sql';

/**
 * What every Accord service does the same way: log in to Postgres as its own least-privilege role,
 * refuse to run as a superuser, and run until SIGTERM or SIGINT.
 */

/** `env[variable]` when set, else DATABASE_URL with the service's role as the user (no password: from the env). */
export function serviceDatabaseUrl(
  role: string,
  variable: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const explicit = env[variable];
  if (explicit) return explicit;
  const url = new URL(resolveConfig({}, env).postgres.url);
  url.username = role;
  url.password = '';
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
    throw new AccordError(
      'POSTGRES_UNAVAILABLE',
      `${service}: cannot use Postgres at ${redactUrl(url)}: ${describeError(error)}`,
      {
        cause: error,
        retriable: true,
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
  config: ResolvedConfig;
  /** Postgres as the service's own least-privilege role (checked not to be a superuser). */
  pool: SqlPool;
  databaseUrl: string;
  /** One line on stdout, prefixed with the service's name. */
  log: (line: string) => void;
}

export interface RunningService {
  /** Said once the service runs, after "<name>: ". */
  running: string;
  /** Stops cleanly; returns what to say after "<name>: stopped " (e.g. counts). */
  stop: (signal: 'SIGTERM' | 'SIGINT') => Promise<string | undefined>;
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
  const say = (stream: NodeJS.WriteStream, line: string) => stream.write(`${def.name}: ${line}\n`);
  let values: V;
  try {
    values = parseArgs({
      args: argv,
      options: { ...def.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values as V;
  } catch (error) {
    say(process.stderr, `${describeError(error)} (see --help)`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${def.help}\n`);
    return 0;
  }
  const databaseUrl = serviceDatabaseUrl(def.role, def.databaseUrlVariable);
  const pool = createPgPool(databaseUrl, { max: def.poolSize ?? 4 });
  try {
    await refuseSuperuser(pool, def.name, databaseUrl, def.role);
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n`); // names the service already
    await pool.end().catch(() => {});
    return 1;
  }
  let running: RunningService | undefined;
  const deadline = Date.now() + (def.startTimeoutMs ?? 60_000);
  for (let attempt = 1; !running; attempt++) {
    try {
      running = await def.start({
        values,
        config: resolveConfig(),
        pool,
        databaseUrl,
        log: (line) => say(process.stdout, line),
      });
    } catch (error) {
      // A broker that just started (no partition leaders yet) or a restarting database: try again, said.
      const wait = Math.min(5000, 250 * 2 ** attempt);
      if (isTransient(error) && Date.now() + wait < deadline) {
        say(
          process.stderr,
          `start failed (${describeError(error)}); retrying in ${(wait / 1000).toFixed(1)}s`,
        );
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      say(process.stderr, `cannot start: ${describeError(error)}`);
      await pool.end().catch(() => {});
      return isAccordError(error) && error.code === 'USAGE' ? 2 : 1;
    }
  }
  say(process.stdout, running.running);
  const signal = await untilSignal();
  say(process.stdout, `${signal}, stopping`);
  const summary = await running.stop(signal);
  await pool.end().catch(() => {});
  say(process.stdout, `stopped${summary ? ` ${summary}` : ''}`);
  return 0;
}
