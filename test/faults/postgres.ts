import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private PostgreSQL of a fault suite's own (initdb, a free port, trust on 127.0.0.1), so the suite may
 * restart or crash it: the machine's Postgres is shared with everything else.
 */
export interface PrivatePostgres {
  port: number;
  /** A URL to its database `accord` as `user` (default postgres, the superuser). */
  url(user?: string): string;
  /** pg_ctl restart: `fast` ends every session cleanly; `immediate` is a crash (recovery on start). */
  restart(mode: 'fast' | 'immediate'): void;
  stop(): void;
}

const BIN = join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().pop() ?? '', 'bin');
/** Postgres refuses to run as root: its tools run as the postgres user, which owns the directory. */
const RUNUSER =
  ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser';

function asPostgres(command: string, args: string[]): string {
  const root = process.getuid?.() === 0;
  return execFileSync(
    root ? RUNUSER : join(BIN, command),
    root ? ['-u', 'postgres', '--', join(BIN, command), ...args] : args,
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

export async function startPostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'accord-faults-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=trust']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const ctl = (...args: string[]) =>
    asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', ...args]);
  ctl('start');
  asPostgres('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'accord']);
  return {
    port,
    url: (user = 'postgres') => `postgres://${user}@127.0.0.1:${port}/accord`,
    restart: (mode) => {
      ctl('-m', mode, 'restart');
    },
    stop: () => {
      try {
        ctl('-m', 'fast', 'stop');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
