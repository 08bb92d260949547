import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@accord/testing';
import { freePort } from './postgres';

/**
 * A private Redis of a fault suite's own (a free port, no persistence: a restart comes back empty), so the
 * suite may flush it or kill it: the machine's Redis is shared with everything else.
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** FLUSHALL: every key gone, the server up. */
  flush(): void;
  /** SIGKILL the server (it comes back only on start()); resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty; resolves once it answers. */
  start(): Promise<void>;
  stop(): void;
}

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'accord-faults-redis-'));
  let server: ChildProcess | undefined;
  const cli = (...args: string[]) =>
    execFileSync('redis-cli', ['-p', String(port), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const start = async () => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    await eventually(
      () => {
        try {
          return cli('ping').trim() === 'PONG';
        } catch {
          return false;
        }
      },
      { what: `redis-server on ${port}`, timeoutMs: 20000, intervalMs: 100 },
    );
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    flush: () => {
      cli('flushall');
    },
    kill: async () => {
      if (!server || server.exitCode !== null || server.signalCode !== null) return;
      const gone = once(server, 'exit');
      server.kill('SIGKILL');
      await gone;
    },
    start,
    stop: () => {
      server?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
