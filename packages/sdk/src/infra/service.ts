import type { Pool } from 'pg';
import { redactUrl, resolveConfig } from '../config';
import { AccordError, describeError } from '../errors';

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
export async function refuseSuperuser(pool: Pool, service: string, url: string, role: string): Promise<void> {
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
