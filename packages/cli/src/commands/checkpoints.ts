import { UsageError } from '@accord/sdk';
import { type PartitionLag, parseStartPosition } from '@accord/sdk/ops';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { who, withStackOps } from '../operator';

/** States that need an operator: `accord lag` exits 1 on any of them (usable as an alarm). */
const ALARMS = new Set(['halted', 'identity changed', 'before log start', 'past log end', 'STUCK']);

function lagRows(rows: PartitionLag[]) {
  return rows.map((r) => ({
    group: r.group,
    topic: r.topic,
    partition: String(r.partition),
    checkpoint: r.checkpoint,
    'log start': r.logStart,
    'log end': r.logEnd,
    lag: String(r.lag),
    'last progress': `${r.idleSeconds}s ago`,
    state: r.state,
  }));
}

function alarms(rows: PartitionLag[]): PartitionLag[] {
  return rows.filter((r) => ALARMS.has(r.state));
}

const CHECKPOINTS_HELP = `Lists each group's checkpoint per topic-partition: the next offset, its type and value, the log
it belongs to (cluster and topic id), its state against the live log, and when it last moved; then the
group's recent incidents (identity changed, out of range, bound) from pipeline_incidents.

A checkpoint that does not point into its live log (the topic was recreated, the broker's storage is new,
Postgres was restored from elsewhere, or retention deleted events before they were processed) is never
applied silently: the pipeline halts that partition and says so. Resolve it with a rebind:

  accord checkpoints rebind <group> --from earliest|latest|<ISO time> [--topic <t>] [--dry-run]

A rebind moves only the partitions that need it, binds them to the live log, records it (pipeline_replays,
kind rebind: who, when, from → to) and tells running instances, which resume at once.

Options:
  --from <where>   rebind: earliest, latest or an ISO time (required)
  --topic <t>      rebind: only this topic
  --dry-run        rebind: print the plan, change nothing
  --json           machine-readable output`;

export const checkpointsCommand: Command = {
  name: 'checkpoints',
  summary: 'pipeline positions with their log identity and incidents; rebind them to a new log',
  usage:
    'accord checkpoints [<group>] [--json] | accord checkpoints rebind <group> --from earliest|latest|<ISO time> [--topic <t>] [--dry-run] [--json]',
  help: CHECKPOINTS_HELP,
  options: {
    json: { type: 'boolean' },
    from: { type: 'string' },
    topic: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    if (positionals[0] === 'rebind') return rebind(positionals[1], values, out);
    const [group] = positionals;
    return withStackOps(async (ops) => {
      const rows = await ops.lag(group ? { group } : {});
      const incidents = await ops.incidents(group, 20);
      if (values.json) {
        out(toJson({ checkpoints: rows, incidents }, 2));
        return 0;
      }
      const table = rows.map((r) => ({
        group: r.group,
        topic: r.topic,
        partition: String(r.partition),
        offset: r.checkpoint,
        type: r.checkpointType,
        value: r.checkpointValue,
        log: r.saved ? `${r.saved.clusterId}/${r.saved.topicId ?? '-'}` : '(unbound)',
        lag: String(r.lag),
        state: r.state,
        updated: r.updatedAt.toISOString(),
      }));
      const columns = ['group', 'topic', 'partition', 'offset', 'type', 'value', 'log', 'lag', 'state'];
      for (const line of formatTable(table, [...columns, 'updated'])) out(line);
      if (rows.length === 0) out(group ? `(no checkpoints for ${group})` : '(no checkpoints)');
      for (const r of rows.filter((x) => x.haltedReason))
        out(`halted ${r.group} ${r.topic}[${r.partition}]: ${r.haltedReason}`);
      if (incidents.length) {
        out('');
        out(`recent incidents${group ? ` of ${group}` : ''}:`);
        for (const i of incidents)
          out(
            `  #${i.id} ${i.detectedAt.toISOString()} ${i.group} ${i.topic}[${i.partition}] ${i.kind} (${i.action}): ${i.detail}`,
          );
      }
      return 0;
    });
  },
};

async function rebind(
  group: string | undefined,
  values: Record<string, string | boolean | undefined>,
  out: (line: string) => void,
): Promise<number> {
  if (!group) throw new UsageError('missing <group> (see: accord checkpoints --help)');
  if (typeof values.from !== 'string')
    throw new UsageError('rebind needs --from earliest|latest|<ISO time> (see: accord checkpoints --help)');
  const from = parseStartPosition(values.from);
  const topic = typeof values.topic === 'string' ? values.topic : undefined;
  return withStackOps(async (ops) => {
    const plan = await ops.planRebind(group, from, topic ? { topic } : {});
    if (values.json && (values['dry-run'] || plan.partitions.length === 0)) {
      out(toJson(plan, 2));
      return 0;
    }
    if (plan.partitions.length === 0) {
      out(`nothing to rebind: every checkpoint of ${group} points into its live log`);
      return 0;
    }
    if (!values.json) {
      out(`rebind ${group} from ${values.from} (pipeline ${plan.running ? 'running' : 'stopped'}):`);
      const table = plan.partitions.map((p) => ({
        topic: p.topic,
        partition: String(p.partition),
        position: `${p.from} → ${p.to}`,
        log: `${p.live.clusterId}/${p.live.topicId ?? '-'}`,
        reason: p.reason.slice(0, 100),
      }));
      for (const line of formatTable(table, ['topic', 'partition', 'position', 'log', 'reason']))
        out(`  ${line}`);
    }
    if (values['dry-run']) return 0;
    const id = await ops.executeRebind(plan, who());
    if (values.json) out(toJson({ ...plan, id }, 2));
    else out(`rebind #${id} recorded and applied to ${plan.partitions.length} partition(s)`);
    return 0;
  });
}

export const lagCommand: Command = {
  name: 'lag',
  summary: 'lag and time since last progress per group and partition; flags stuck or halted pipelines',
  usage: 'accord lag [<group>] [--stuck-after <seconds>] [--json]',
  help: `Lag is the log end minus the checkpoint. A partition with lag whose checkpoint has not moved for longer
than --stuck-after (default 300 s) is STUCK. A partition whose checkpoint does not point into its live log
is shown as such (halted, identity changed, before log start, past log end), never as caught up. On any of
these the command exits 1 (usable as an alarm); see accord checkpoints for the reasons and the fix.

Options:
  --stuck-after <s>   seconds without progress before lag counts as stuck (default 300)
  --json              machine-readable output`,
  options: { 'stuck-after': { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values, out, err }) {
    const [group] = positionals;
    const stuckAfterSeconds = values['stuck-after'] === undefined ? 300 : Number(values['stuck-after']);
    if (!Number.isFinite(stuckAfterSeconds) || stuckAfterSeconds < 0)
      throw new UsageError(`--stuck-after must be a number of seconds, got "${values['stuck-after']}"`);
    const rows = await withStackOps((ops) => ops.lag({ ...(group ? { group } : {}), stuckAfterSeconds }));
    if (values.json) out(toJson(rows, 2));
    else
      for (const line of formatTable(lagRows(rows), [
        'group',
        'topic',
        'partition',
        'checkpoint',
        'log start',
        'log end',
        'lag',
        'last progress',
        'state',
      ]))
        out(line);
    const bad = alarms(rows);
    if (bad.length) {
      err(
        `accord lag: ${bad.length} partition(s) need attention: ${bad
          .slice(0, 10)
          .map((s) => `${s.group} ${s.topic}[${s.partition}] ${s.state}`)
          .join(', ')}${bad.length > 10 ? ', …' : ''} (see accord checkpoints)`,
      );
      return 1;
    }
    return 0;
  },
};
