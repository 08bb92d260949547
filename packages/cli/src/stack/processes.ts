import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pollUntil, StackError } from '@accord/sdk';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped) still answers signal 0.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolvePromise(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** "pid 1234 (java …)" for whatever listens on a TCP port, when `ss` can tell; undefined otherwise. */
export function portOwner(port: number): string | undefined {
  const result = spawnSync('ss', ['-Htlnp', `sport = :${port}`], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const match = /\("([^"]+)",pid=(\d+)/.exec(result.stdout);
  if (!match) return undefined;
  const pid = Number(match[2]);
  const cmd = commandLine(pid);
  return `pid ${pid} (${cmd ? cmd.slice(0, 80) : match[1]})`;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(
  pid: number,
  graceMs = 30000,
): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'not-running';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await delay(200);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  while (isAlive(pid)) await delay(100);
  return 'killed';
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns true or `timeoutMs` passes; returns whether it succeeded. */
export async function waitFor(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 300,
): Promise<boolean> {
  return (
    (await pollUntil(async () => ((await probe()) ? true : undefined), { timeoutMs, intervalMs })) ?? false
  );
}

export function isLocalHost(host: string): boolean {
  return ['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0'].includes(host);
}

/** Refuses to go on when something Accord did not start holds `port`; `remedy` says what to do instead. */
export async function assertPortFree(port: number, remedy: string): Promise<void> {
  if (await isPortOpen(port)) {
    throw new StackError(
      'STACK_PORT_BUSY',
      `port ${port} is already in use by ${portOwner(port) ?? 'another process'}, which Accord did not start: ${remedy}`,
    );
  }
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
