import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, redactUrl, StackError } from '@accord/sdk';
import { checkRedis } from '@accord/sdk/ops';
import type { StackPaths } from './paths';
import { isAlive, isLocalHost, stopProcess, waitFor } from './processes';
import { readState, updateState } from './state';

/**
 * Reaches Redis at REDIS_URL; when it is local and stopped, starts `redis-server` as a cache that keeps
 * nothing on disk (Redis holds derived state only: features are rebuilt by replay).
 */
export async function redisUp(
  paths: StackPaths,
  url: string,
  log: (line: string) => void,
): Promise<{ started: boolean }> {
  let health = await checkRedis(url);
  const parsed = new URL(url);
  if (!health.ok && health.errorCode === 'ECONNREFUSED' && isLocalHost(parsed.hostname)) {
    const port = Number(parsed.port || 6379);
    mkdirSync(paths.redisDir, { recursive: true });
    const pidFile = join(paths.redisDir, 'redis.pid');
    log(`redis: not running; starting redis-server on 127.0.0.1:${port}`);
    const result = spawnSync(
      'redis-server',
      [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        paths.redisDir,
        '--logfile',
        join(paths.redisDir, 'redis.log'),
        '--pidfile',
        pidFile,
      ],
      { encoding: 'utf8' },
    );
    if (result.error || result.status !== 0) {
      const reason = result.error ? describeError(result.error) : result.stderr.trim();
      throw new StackError(
        'STACK_START_FAILED',
        `could not start redis-server (${reason}): install Redis or set REDIS_URL`,
      );
    }
    await waitFor(
      async () => {
        health = await checkRedis(url);
        return health.ok;
      },
      15000,
      200,
    );
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    updateState(paths.stateFile, (state) => {
      state.redis = { pid, port, startedAt: new Date().toISOString() };
    });
    if (health.ok) return { started: true };
  }
  if (!health.ok)
    throw new StackError(
      'STACK_START_FAILED',
      `Redis at ${redactUrl(url)} is not reachable: ${health.detail}`,
    );
  return { started: false };
}

export async function redisDown(paths: StackPaths): Promise<string> {
  const started = readState(paths.stateFile).redis;
  updateState(paths.stateFile, (state) => {
    delete state.redis;
  });
  if (!started || !isAlive(started.pid)) return 'redis: not started by Accord, left running';
  const how = await stopProcess(started.pid, 10000);
  return `redis: redis-server (pid ${started.pid}) ${how}`;
}
