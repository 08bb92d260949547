import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError } from '@accord/sdk';
import { checkSchemaRegistry } from '@accord/sdk/ops';
import type { StackPaths } from './paths';
import { assertPortFree, commandLine, isAlive, stopProcess, waitFor } from './processes';
import { readState, updateState } from './state';

export function localRegistryPort(env = process.env): number {
  const raw = env.ACCORD_REGISTRY_PORT;
  if (raw === undefined || raw === '') return 8081;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StackError(
      'STACK_START_FAILED',
      `ACCORD_REGISTRY_PORT must be a TCP port (1-65535), got "${raw}"`,
    );
  }
  return port;
}

function registryMain(paths: StackPaths): string {
  return join(paths.root, 'services', 'registry', 'dist', 'main.js');
}

/** The registry Accord started from this state dir, if it is still running. */
export function runningLocalRegistry(paths: StackPaths): { pid: number; port: number } | undefined {
  const registry = readState(paths.stateFile).registry;
  if (!registry || !isAlive(registry.pid)) return undefined;
  if (!commandLine(registry.pid).includes(registryMain(paths))) return undefined;
  return registry;
}

export type RegistryUpResult =
  | { action: 'external'; url: string }
  | { action: 'already-running' | 'started'; pid: number; port: number };

/**
 * Starts Accord's schema registry (after migrations), unless SCHEMA_REGISTRY_URL names one to use.
 */
export async function registryUp(
  paths: StackPaths,
  url: string,
  external: boolean,
  databaseUrl: string,
): Promise<RegistryUpResult> {
  if (external) {
    const health = await checkSchemaRegistry(url);
    if (!health.ok) {
      throw new StackError(
        'STACK_START_FAILED',
        `the schema registry at ${url} (from SCHEMA_REGISTRY_URL) is not reachable: ${health.detail}`,
      );
    }
    return { action: 'external', url };
  }
  const running = runningLocalRegistry(paths);
  if (running) return { action: 'already-running', ...running };

  const port = localRegistryPort();
  await assertPortFree(
    port,
    'stop it, or set SCHEMA_REGISTRY_URL to use that registry, or ACCORD_REGISTRY_PORT to pick another port',
  );
  const dir = join(paths.stateDir, 'registry');
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'registry.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', registryMain(paths), '--port', String(port)],
    { detached: true, stdio: ['ignore', out, out], env: { ...process.env, DATABASE_URL: databaseUrl } },
  );
  closeSync(out);
  const pid = child.pid;
  child.unref();
  if (pid === undefined)
    throw new StackError('STACK_START_FAILED', `could not start the schema registry; see ${logFile}`);
  updateState(paths.stateFile, (state) => {
    state.registry = { pid, port, startedAt: new Date().toISOString() };
  });
  const ready = await waitFor(async () => !isAlive(pid) || (await checkSchemaRegistry(url)).ok, 30000, 200);
  if (!ready || !isAlive(pid)) {
    await stopProcess(pid, 5000);
    updateState(paths.stateFile, (state) => {
      delete state.registry;
    });
    let reason = 'no answer within 30s';
    try {
      reason = readFileSync(logFile, 'utf8').trim().split('\n').pop() ?? reason;
    } catch {
      // keep the default reason
    }
    throw new StackError(
      'STACK_START_FAILED',
      `the schema registry did not start: ${reason} (log: ${logFile})`,
    );
  }
  return { action: 'started', pid, port };
}

export async function registryDown(paths: StackPaths): Promise<string> {
  const running = runningLocalRegistry(paths);
  updateState(paths.stateFile, (state) => {
    delete state.registry;
  });
  if (!running) return 'schema-registry: not started by Accord, nothing to stop';
  const how = await stopProcess(running.pid, 15000);
  return `schema-registry: pid ${running.pid} ${how}`;
}
