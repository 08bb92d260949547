import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { resolveConfig } from '@accord/sdk';
import { type KafkaAccess, provisionPrincipal, serviceAccess } from '@accord/sdk/ops';
import { eventually } from '@accord/testing';

export const ROOT = resolve(__dirname, '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/accord <args>` as a user would, with extra environment variables. */
export function accord(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      'bash',
      [join(ROOT, 'scripts', 'accord'), ...args],
      { env: { ...process.env, ...env }, timeout: 240000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        // Killed by the timeout, it printed nothing of its own: say so (a fault run showed only "code 1").
        const killed = error?.killed
          ? `[test] accord ${args[0]} killed after 240 s (its stdout: ${stdout.slice(-500)})\n`
          : '';
        resolvePromise({ code, stdout, stderr: `${stderr}${killed}` });
      },
    );
  });
}

/** Runs `scripts/accord <args>` with `stdin` as its standard input. */
export function accordWithStdin(args: string[], stdin: string): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      'bash',
      [join(ROOT, 'scripts', 'accord'), ...args],
      { timeout: 120000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/** A TCP port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A service's log line (JSON, one per line): its fields, `msg` and `level`. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** The JSON lines of a service's output (chunks as they arrived); other lines are left out. */
export function logLines(chunks: string[]): LogLine[] {
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return []; // a line still being written
      }
    });
}

export interface RunningService {
  /** Its process id (fault tests pause it with SIGSTOP). */
  pid: number;
  /** Null while it runs; its exit code (or signal name) once it has exited. */
  exitCode: () => number | string | null;
  /** Its output so far, in chunks (see logLines). */
  output: string[];
  /** SIGTERM, then waits for it to exit (idempotent). */
  stop: () => Promise<void>;
  /** SIGKILL: dies at once, mid-whatever; resolves when it is gone. */
  kill: () => Promise<void>;
}

/**
 * Starts a service (`node <ROOT>/<main> <args>`) with extra environment variables and resolves once it
 * logged "running"; its stop is also pushed onto `stops` for the test's afterAll.
 */
export async function startService(
  main: string,
  args: string[],
  env: Record<string, string | undefined>,
  stops: (() => Promise<void>)[],
  nodeFlags: string[] = [],
): Promise<RunningService> {
  await grantService(main, args, env);
  const child = spawn(process.execPath, [...nodeFlags, join(ROOT, main), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  stops.push(stop);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  };
  // 120 s: on the slower machine of this kind, under the parallel fault suites' load, a service's start
  // (a group join during a rebalance storm, six feature views) passed 60 s twice in four clean runs.
  await eventually(() => logLines(output).some((l) => l.msg === 'running'), {
    timeoutMs: 120000,
    what: () => `${main} ${args.join(' ')} running (${output.join('')})`,
  });
  return {
    pid: child.pid as number,
    exitCode: () => child.exitCode ?? child.signalCode ?? null,
    output,
    stop,
    kill,
  };
}

/**
 * Gives a service started by a test its Kafka principal's ACLs for the test's namespace, topics and
 * groups (its own principal, as in production: the suite exercises the ACLs). The operator (this jest
 * process, accord-admin on the local stack) grants them.
 */
export async function grantService(
  main: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<void> {
  const option = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i === -1 ? undefined : args[i + 1];
  };
  const ns = env.ACCORD_TOPIC_NAMESPACE ? `${env.ACCORD_TOPIC_NAMESPACE}.` : '';
  const group = option('group');
  let principal: string;
  let access: KafkaAccess;
  if (main.includes('services/archive/')) {
    principal = 'accord_archive';
    access = group
      ? { read: ['*'], write: [], groups: [group] }
      : serviceAccess('accord_archive', env.ACCORD_TOPIC_NAMESPACE);
  } else if (main.includes('services/features/')) {
    principal = 'accord_features';
    access = { read: ['*'], write: [], groups: [`${group ?? `${ns}features`}*`] };
  } else if (main.includes('services/logs/')) {
    principal = 'accord_logs';
    const base = serviceAccess('accord_logs', env.ACCORD_TOPIC_NAMESPACE);
    access = { ...base, groups: [...base.groups, ...(group ? [group] : [])] };
  } else if (main.includes('services/owners/')) {
    const entity = option('entity') ?? 'order';
    principal = `accord_owner_${entity}`;
    access = {
      read: [option('topic') ?? `${ns}commerce.${entity}.proposals`],
      write: [option('events-topic') ?? `${ns}commerce.${entity}.events`],
      groups: [group ?? `${ns}owner-${entity}*`],
    };
  } else return; // the registry talks to Postgres only; the commerce runner is the operator's load
  const operatorEnv = { ...process.env, ...env };
  await provisionPrincipal(resolveConfig({}, operatorEnv), principal, access, operatorEnv);
}
