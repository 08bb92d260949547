import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What `accord up` started, so that `accord down` stops exactly that and nothing else. */
export interface StackState {
  kafka?: {
    /** The first node (the single broker of a one-node stack). */
    pid: number;
    port: number;
    controllerPort: number;
    startedAt: string;
    /** Every node, the first included. */
    nodes?: { id: number; pid: number; port: number; controllerPort: number; properties: string }[];
  };
  postgres?: { cluster: string; startedAt: string };
  redis?: { pid: number; port: number; startedAt: string };
  registry?: { pid: number; port: number; startedAt: string };
}

export function readState(file: string): StackState {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    return {};
  }
}

export function writeState(file: string, state: StackState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

export function updateState(file: string, change: (state: StackState) => void): StackState {
  const state = readState(file);
  change(state);
  writeState(file, state);
  return state;
}
