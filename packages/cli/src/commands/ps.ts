import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest, pollUntil, UsageError } from '@accord/sdk';
import { agentDir, deployedAgents, isAlive, readAgentState, replicaReady } from '../agents/state';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { withStackOps } from '../operator';

export const psCommand: Command = {
  name: 'ps',
  summary: 'deployed agents: replicas, health, lag, paused, last decision',
  usage: 'accord ps [--json]',
  help: `One line per deployed agent: its version, replicas running of desired (and restarts), how many are
ready (/readyz), its group's lag, whether an operator paused it (accord pause), and its latest decision.`,
  options: { json: { type: 'boolean' } },
  async run({ values, out }) {
    const names = deployedAgents();
    const rows = await withStackOps(async (ops) =>
      Promise.all(
        names.map(async (name) => {
          const state = readAgentState(name)!;
          const live = state.replicas.filter((r) => isAlive(r.pid));
          const ready = (await Promise.all(live.map((r) => replicaReady(r.healthPort)))).filter(
            Boolean,
          ).length;
          let proposes: string[] = [];
          try {
            proposes = loadManifest(join(agentDir(name), 'manifest.yaml')).proposes;
          } catch {
            // a manifest that no longer loads: no decisions to show
          }
          const lag = (await ops.lag({ group: `agent-${name}` })).reduce((n, r) => n + r.lag, 0);
          const control = await ops.agentControl(name);
          const last = await ops.lastDecision(name, proposes);
          return {
            agent: name,
            version: state.version,
            status: isAlive(state.supervisorPid) ? state.status : 'stopped',
            replicas: { running: live.length, desired: state.desiredReplicas, ready },
            restarts: state.replicas.reduce((n, r) => n + r.restarts, 0),
            lag,
            paused: control?.paused === true,
            pausedReason: control?.paused ? control.reason : null,
            lastDecision: last ?? null,
          };
        }),
      ),
    );
    if (values.json) {
      out(toJson(rows, 2));
      return 0;
    }
    const table = rows.map((r) => ({
      agent: r.agent,
      version: r.version ?? '-',
      status: r.paused ? `PAUSED (${r.pausedReason ?? ''})` : r.status,
      replicas: `${r.replicas.running}/${r.replicas.desired}`,
      ready: String(r.replicas.ready),
      restarts: String(r.restarts),
      lag: String(r.lag),
      'last decision': r.lastDecision
        ? `${r.lastDecision.outcome} ${r.lastDecision.entityType} ${r.lastDecision.entityId} ${r.lastDecision.decidedAt.toISOString()}`
        : '-',
    }));
    for (const line of formatTable(table, [
      'agent',
      'version',
      'status',
      'replicas',
      'ready',
      'restarts',
      'lag',
      'last decision',
    ]))
      out(line);
    out(`(${rows.length} agent(s))`);
    return 0;
  },
};

export const logsCommand: Command = {
  name: 'logs',
  summary: "an agent's replica logs (JSON lines)",
  usage: 'accord logs <agent> [--replica <n>] [--lines <n>]',
  help: `Prints the last lines of each replica's log (or one replica's), oldest first.

Options:
  --replica <n>   one replica only
  --lines <n>     how many lines per replica (default 50)`,
  options: { replica: { type: 'string' }, lines: { type: 'string' } },
  async run({ positionals, values, out }) {
    const [name] = positionals;
    if (!name) throw new UsageError('missing <agent> (see: accord ps)');
    const state = readAgentState(name);
    if (!state) throw new UsageError(`no deployed agent "${name}" (see: accord ps)`);
    const lines = Number(values.lines ?? 50);
    if (!Number.isInteger(lines) || lines < 1)
      throw new UsageError(`--lines must be a positive integer, got "${values.lines}"`);
    const indexes =
      values.replica === undefined ? state.replicas.map((r) => r.index) : [Number(values.replica)];
    for (const i of indexes) {
      let text = '';
      try {
        text = readFileSync(join(agentDir(name), `replica-${i}.log`), 'utf8');
      } catch {
        throw new UsageError(`agent ${name} has no replica ${i}`);
      }
      out(`==> ${name} replica ${i} <==`);
      for (const line of text.trimEnd().split('\n').slice(-lines)) out(line);
    }
    return 0;
  },
};

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop a deployed agent (replicas finish their batch and checkpoint)',
  usage: 'accord stop <agent>...',
  help: `Stops the agent's supervisor, which stops every replica the clean way (each finishes its batch,
checkpoints and leaves the group). Its checkpoints, role and manifest stay: accord deploy starts it again.`,
  options: {},
  async run({ positionals, out }) {
    if (positionals.length === 0) throw new UsageError('missing <agent> (see: accord ps)');
    for (const name of positionals) {
      const state = readAgentState(name);
      if (!state) throw new UsageError(`no deployed agent "${name}" (see: accord ps)`);
      if (!isAlive(state.supervisorPid)) {
        out(`${name}: not running`);
        continue;
      }
      process.kill(state.supervisorPid, 'SIGTERM');
      const stopped = await pollUntil(() => (isAlive(state.supervisorPid) ? undefined : true), {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      out(stopped ? `${name}: stopped` : `${name}: still stopping after 60 s (pid ${state.supervisorPid})`);
    }
    return 0;
  },
};
