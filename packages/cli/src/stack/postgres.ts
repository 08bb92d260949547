import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describeError, redactUrl, StackError } from '@accord/sdk';
import { checkPostgres, type MigrationResult, migrate } from '@accord/sdk/ops';
import type { StackPaths } from './paths';
import { isLocalHost, waitFor } from './processes';
import { readState, updateState } from './state';

function maintenanceUrl(url: string): string {
  const copy = new URL(url);
  copy.pathname = '/postgres';
  return copy.toString();
}

/** Debian's cluster tool, when this machine has a local cluster: ["15", "main"]. */
function localCluster(): [string, string] | undefined {
  if (!existsSync('/etc/postgresql')) return undefined;
  const version = readdirSync('/etc/postgresql').sort().pop();
  if (!version || !existsSync(`/etc/postgresql/${version}/main`)) return undefined;
  return [version, 'main'];
}

function pgCtlCluster(cluster: [string, string], action: 'start' | 'stop'): { ok: boolean; detail: string } {
  const result = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster[0], cluster[1], action], {
    encoding: 'utf8',
  });
  if (result.error) return { ok: false, detail: describeError(result.error) };
  return { ok: result.status === 0, detail: `${result.stderr}${result.stdout}`.trim() };
}

export interface PostgresUpResult {
  started: boolean;
  migrations: MigrationResult;
}

/**
 * Reaches Postgres at DATABASE_URL; when it is local and stopped and this machine has a Debian cluster,
 * starts it. Then creates the database if needed and applies the migrations.
 */
export async function postgresUp(
  paths: StackPaths,
  url: string,
  log: (line: string) => void,
): Promise<PostgresUpResult> {
  let started = false;
  let health = await checkPostgres(maintenanceUrl(url));
  if (!health.ok && health.errorCode === 'ECONNREFUSED' && isLocalHost(new URL(url).hostname)) {
    const cluster = localCluster();
    if (!cluster) {
      throw new StackError(
        'STACK_START_FAILED',
        `Postgres at ${redactUrl(url)} is not running and no local cluster was found to start: start PostgreSQL or set DATABASE_URL`,
      );
    }
    log(`postgres: not running; starting cluster ${cluster.join('/')}`);
    const result = pgCtlCluster(cluster, 'start');
    if (!result.ok)
      throw new StackError(
        'STACK_START_FAILED',
        `could not start Postgres ${cluster.join('/')}: ${result.detail}`,
      );
    updateState(paths.stateFile, (state) => {
      state.postgres = { cluster: cluster.join('/'), startedAt: new Date().toISOString() };
    });
    started = true;
    await waitFor(
      async () => {
        health = await checkPostgres(maintenanceUrl(url));
        return health.ok;
      },
      30000,
      300,
    );
  }
  if (!health.ok) {
    throw new StackError(
      'STACK_START_FAILED',
      `Postgres at ${redactUrl(url)} is not reachable: ${health.detail}`,
    );
  }
  const migrations = await migrate(url, paths.migrationsDir);
  return { started, migrations };
}

export async function postgresDown(paths: StackPaths): Promise<string> {
  const started = readState(paths.stateFile).postgres;
  if (!started) return 'postgres: not started by Accord, left running';
  const [version, name] = started.cluster.split('/') as [string, string];
  const result = pgCtlCluster([version, name], 'stop');
  updateState(paths.stateFile, (state) => {
    delete state.postgres;
  });
  return result.ok
    ? `postgres: stopped cluster ${started.cluster}`
    : `postgres: stopping ${started.cluster} failed: ${result.detail}`;
}
