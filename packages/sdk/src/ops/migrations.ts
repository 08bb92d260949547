import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { redactUrl } from '../config';
import { describeError, StackError, UnavailableError } from '../errors';
import { createPgPool } from '../infra/clients';
import { isConnectionError, SQLSTATE, sqlState } from '../infra/pg-errors';

export interface MigrationResult {
  database: string;
  createdDatabase: boolean;
  applied: string[];
  alreadyApplied: string[];
}

// Every migrate() takes this advisory lock, so two processes running `accord up` at once apply each
// migration exactly once.
const MIGRATION_LOCK_KEY = 7_424_001;

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name)) {
    throw new StackError('MIGRATION_FAILED', `DATABASE_URL names an invalid database "${name}"`);
  }
  return name;
}

function withDatabase(url: string, database: string): string {
  const copy = new URL(url);
  copy.pathname = `/${database}`;
  return copy.toString();
}

/** Creates the database named in `url` when it is missing (connecting to the server's `postgres` database). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const pool = createPgPool(withDatabase(url, 'postgres'), { max: 1 });
  try {
    const found = await pool.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    // Identifiers cannot be bound as parameters; the name was validated above and is quoted here.
    await pool.query(`create database "${name}"`);
    return true;
  } catch (error) {
    if (sqlState(error) === SQLSTATE.duplicateDatabase) return false; // created concurrently
    if (isConnectionError(error)) {
      throw new UnavailableError(
        'POSTGRES_UNAVAILABLE',
        `cannot reach Postgres at ${redactUrl(url)}: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
    throw new StackError('MIGRATION_FAILED', `cannot create database "${name}": ${describeError(error)}`, {
      cause: error,
    });
  } finally {
    await pool.end().catch(() => {});
  }
}

/**
 * Applies `NNNN_name.sql` files from `dir` in order, each in its own transaction, recording them in
 * `accord_schema_migrations`. Safe to run any number of times and from several processes at once.
 * With `schema`, everything is created in that Postgres schema instead of the default one.
 */
export async function migrate(
  url: string,
  dir: string,
  options: { schema?: string } = {},
): Promise<MigrationResult> {
  const createdDatabase = await ensureDatabase(url);
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StackError(
      'MIGRATION_FAILED',
      `invalid schema name "${schema}": use lower-case letters, digits and _`,
    );
  }
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const pool = createPgPool(url, { max: 1 });
  const client = await pool.connect();
  const applied: string[] = [];
  const alreadyApplied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    if (schema !== undefined) {
      // Tests get the whole layout in a schema of their own: every table lands in (and is found in) it.
      await client.query(`create schema if not exists "${schema}"`);
      await client.query(`set search_path to "${schema}"`);
    }
    await client.query(
      `create table if not exists accord_schema_migrations (
         version text primary key,
         applied_at timestamptz not null default now()
       )`,
    );
    const done = new Set(
      (await client.query<{ version: string }>('select version from accord_schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const file of files) {
      const version = file.replace(/\.sql$/, '');
      if (done.has(version)) {
        alreadyApplied.push(version);
        continue;
      }
      const sql = await readFile(join(dir, file), 'utf8');
      try {
        await client.query('begin');
        await client.query(sql);
        await client.query('insert into accord_schema_migrations (version) values ($1)', [version]);
        await client.query('commit');
        applied.push(version);
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw new StackError('MIGRATION_FAILED', `migration ${file} failed: ${describeError(error)}`, {
          cause: error,
        });
      }
    }
    if (applied.length) {
      // Objects new in this run go to the migration role (migration 0009): service roles own nothing.
      const { rows } = await client.query<{ f: string | null }>(
        `select to_regproc('accord_hand_over_ownership')::text as f`,
      );
      if (rows[0]?.f) await client.query('select accord_hand_over_ownership()');
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    client.release();
    await pool.end().catch(() => {});
  }
  return { database: databaseName(url), createdDatabase, applied, alreadyApplied };
}
