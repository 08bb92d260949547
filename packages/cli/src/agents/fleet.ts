import { join } from 'node:path';
import { loadManifest, namespacedGroup } from '@accord/sdk';
import type { Ops } from '@accord/sdk/ops';
import { agentDir, deployedAgents, isAlive, readAgentState, replicaReady } from './state';

export interface FleetRow {
  agent: string;
  version: string | null;
  status: string;
  replicas: { running: number; desired: number; ready: number };
  /** Each live replica's health port (it serves /healthz, /readyz and /metrics). */
  healthPorts: number[];
  restarts: number;
  lag: number;
  paused: boolean;
  pausedReason: string | null;
  lastDecision: { entityType: string; entityId: string; outcome: string; decidedAt: Date } | null;
}

/** The deployed agents on this machine (the supervisor's state) with their health, lag and last decision. */
export async function fleetStatus(ops: Ops): Promise<FleetRow[]> {
  return Promise.all(
    deployedAgents().map(async (name) => {
      const state = readAgentState(name)!;
      const live = state.replicas.filter((r) => isAlive(r.pid));
      const ready = (await Promise.all(live.map((r) => replicaReady(r.healthPort)))).filter(Boolean).length;
      let proposes: string[] = [];
      try {
        proposes = loadManifest(join(agentDir(name), 'manifest.yaml')).proposes;
      } catch {
        // a manifest that no longer loads: no decisions to show
      }
      const lag = (await ops.lag({ group: namespacedGroup(`agent-${name}`) })).reduce((n, r) => n + r.lag, 0);
      const control = await ops.agentControl(name);
      const last = await ops.lastDecision(name, proposes);
      return {
        agent: name,
        version: state.version === undefined || state.version === null ? null : String(state.version),
        status: isAlive(state.supervisorPid) ? state.status : 'stopped',
        replicas: { running: live.length, desired: state.desiredReplicas, ready },
        healthPorts: live.map((r) => r.healthPort),
        restarts: state.replicas.reduce((n, r) => n + r.restarts, 0),
        lag,
        paused: control?.paused === true,
        pausedReason: control?.paused ? (control.reason ?? null) : null,
        lastDecision: last ?? null,
      };
    }),
  );
}
