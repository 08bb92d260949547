import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, UsageError } from '@accord/sdk';
import { fleetStatus } from '../agents/fleet';
import { agentDir, deployedAgents, isAlive, readAgentState } from '../agents/state';
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
    const rows = await withStackOps(fleetStatus);
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
checkpoints and leaves the group). Its checkpoints, role and manifest stay: accord deploy starts it again.
Several agents stop at once (every name is checked before any is stopped). An agent whose deploy was
interrupted (its manifest written, its supervisor perhaps still starting) is waited for up to 10 s and
stopped if its supervisor appears.`,
  options: {},
  async run({ positionals, out }) {
    if (positionals.length === 0) throw new UsageError('missing <agent> (see: accord ps)');
    for (const name of positionals)
      if (!readAgentState(name) && !existsSync(join(agentDir(name), 'manifest.yaml')))
        throw new UsageError(`no deployed agent "${name}" (see: accord ps)`);
    const lines = await Promise.all(
      positionals.map(async (name) => {
        // Deploy writes the manifest, then starts the supervisor, which writes its state once it runs:
        // a deploy interrupted in between left a supervisor that `stop` must still reach.
        const state =
          readAgentState(name) ??
          (await pollUntil(() => readAgentState(name), { timeoutMs: 10_000, intervalMs: 200 }));
        if (!state) return `${name}: not running (deployed, but no supervisor wrote its state in 10 s)`;
        const pid = state.supervisorPid;
        if (!isAlive(pid)) return `${name}: not running`;
        process.kill(pid, 'SIGTERM');
        const stopped = await pollUntil(() => (isAlive(pid) ? undefined : true), {
          timeoutMs: 60_000,
          intervalMs: 200,
        });
        return stopped ? `${name}: stopped` : `${name}: still stopping after 60 s (pid ${pid})`;
      }),
    );
    for (const line of lines) out(line);
    return 0;
  },
};
