import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stackPaths } from '../stack/paths';

/** What the supervisor of one agent says about it (its state.json, rewritten on every change). */
export interface ReplicaState {
  index: number;
  pid: number | null;
  healthPort: number;
  digest: string;
  restarts: number;
  startedAt: string | null;
  lastExit: string | null;
}

export interface AgentState {
  name: string;
  version: string | null;
  digest: string;
  desiredReplicas: number;
  supervisorPid: number;
  status: 'starting' | 'running' | 'rolling' | 'stopping' | 'stopped';
  replicas: ReplicaState[];
  updatedAt: string;
}

/** Where deployed agents live: ACCORD_AGENTS_DIR, default <state dir>/agents (one folder per agent). */
export function agentsDir(): string {
  return resolve(process.env.ACCORD_AGENTS_DIR || join(stackPaths().stateDir, 'agents'));
}

export function agentDir(name: string): string {
  return join(agentsDir(), name);
}

export function readAgentState(name: string): AgentState | undefined {
  try {
    return JSON.parse(readFileSync(join(agentDir(name), 'state.json'), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}

export function writeAgentState(state: AgentState): void {
  const dir = agentDir(state.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `state.json.${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`, {
    mode: 0o600,
  });
  renameSync(tmp, join(dir, 'state.json')); // readers never see half a file
}

/** Every agent that was ever deployed here (running or stopped). */
export function deployedAgents(): string[] {
  const dir = agentsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'state.json')))
    .sort();
}

export function isAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a replica answers ready on its health port (/readyz: started, not stopping, not paused). */
export function replicaReady(healthPort: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.ok)
    .catch(() => false);
}
