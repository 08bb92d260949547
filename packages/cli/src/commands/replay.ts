import { UsageError } from '@accord/sdk';
import { describeTarget, type Ops, type ReplayPlan, type ReplayTarget } from '@accord/sdk/ops';
import { type Command, type CommandContext, formatTable } from '../command';
import { toJson } from '../json';
import { who, withStackOps } from '../operator';

function parseTarget(values: CommandContext['values']): ReplayTarget {
  const given = ['to-time', 'to-offset', 'to-earliest'].filter((k) => values[k] !== undefined);
  if (given.length !== 1)
    throw new UsageError('give exactly one of --to-time <ISO>, --to-offset <n>, --to-earliest');
  if (values['to-earliest']) return { kind: 'earliest' };
  if (typeof values['to-offset'] === 'string') {
    if (!/^\d+$/.test(values['to-offset']))
      throw new UsageError(`--to-offset must be a non-negative integer, got "${values['to-offset']}"`);
    return { kind: 'offset', offset: BigInt(values['to-offset']) };
  }
  const time = Date.parse(String(values['to-time']));
  if (Number.isNaN(time)) throw new UsageError(`--to-time must be an ISO time, got "${values['to-time']}"`);
  return { kind: 'time', time: new Date(time) };
}

function bar(done: number, total: number, width = 30): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} (${Math.round(ratio * 100)}%)`;
}

/**
 * Waits until every partition of the plan is past its replay (ops.awaitReplay), drawing progress on a
 * terminal and writing a plain line (at most every 5 s, and at the end) otherwise. 1 unless caught up.
 */
async function waitForReplay(
  ops: Ops,
  plan: ReplayPlan,
  out: (line: string) => void,
  timeoutMs: number,
): Promise<number> {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const result = await ops.awaitReplay(plan, {
    timeoutMs,
    onProgress: ({ done, total, pending }) => {
      if (tty) process.stderr.write(`\r  ${bar(done, total)}`);
      else if (pending === 0 || Date.now() - lastLine >= 5000) {
        process.stderr.write(`  replay progress: ${done}/${total} event(s)\n`);
        lastLine = Date.now();
      }
    },
  });
  if (tty) process.stderr.write('\n');
  const { done, total } = result;
  switch (result.outcome) {
    case 'caught-up':
      out(`caught up: ${total} event(s) re-processed in ${result.seconds.toFixed(1)}s`);
      return 0;
    case 'stopped':
      out(
        `${plan.group} stopped running before the replay finished (${done}/${total} re-processed): it continues when the pipeline starts again (see accord lag ${plan.group})`,
      );
      return 1;
    case 'timeout':
      out(
        `${plan.group} has not finished the replay after ${Math.round(timeoutMs / 1000)}s (${done}/${total}); it goes on: see accord lag ${plan.group}`,
      );
      return 1;
  }
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a pipeline from a time or offset, running or stopped',
  usage:
    'accord replay <group> (--to-time <ISO> | --to-offset <n> | --to-earliest) [--until <ISO>] [--dry-run] [--no-wait] [--recompute] [--timeout <s>] [--json]',
  help: `Moves a group's checkpoints back so its events are processed again. Handlers see ctx.replay = true
for re-processed events (skip external side effects there).

Works while the pipeline runs: rows move with a compare-and-set on their epoch, which fences the running
instances' in-flight commits, and a Postgres NOTIFY tells them to re-read the checkpoints and seek: no
restart, no lost events. Works while it is stopped too (table and Kafka's committed offsets move together).
Every replay is recorded in pipeline_replays (who, when, from → to). A replay never sets a position past
the log end, and is refused for checkpoints that do not point into their live log (rebind those first:
accord checkpoints --help).

While the pipeline runs, the command waits until every partition is past its replay: a progress bar on a
terminal, plain lines otherwise. It exits 1 if the pipeline stops running meanwhile, or after --timeout.

Options:
  --to-time <ISO>    re-process events at or after this time
  --to-offset <n>    re-process from this offset (every partition)
  --to-earliest      re-process everything still in the topic
  --until <ISO>      stop re-processing at this time, then continue live from where the pipeline was
  --dry-run          print the plan (per partition: current → new position, events to re-process) only
  --no-wait          do not wait for the pipeline to catch up
  --recompute        agents call their side effects (model calls, emails…) again instead of returning
                     the results recorded the first time (the default makes a replay deterministic)
  --timeout <s>      how long to wait for it (default 1800)
  --json             print the plan as JSON`,
  options: {
    'to-time': { type: 'string' },
    'to-offset': { type: 'string' },
    'to-earliest': { type: 'boolean' },
    until: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    recompute: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [group] = positionals;
    if (!group) throw new UsageError('missing <group> (see: accord replay --help)');
    const target = parseTarget(values);
    let untilTime: Date | undefined;
    if (typeof values.until === 'string') {
      const t = Date.parse(values.until);
      if (Number.isNaN(t)) throw new UsageError(`--until must be an ISO time, got "${values.until}"`);
      untilTime = new Date(t);
    }
    const timeout = values.timeout === undefined ? 1800 : Number(values.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
    return withStackOps(async (ops) => {
      const plan = await ops.planReplay(group, target, untilTime);
      const total = plan.partitions.reduce((sum, p) => sum + p.events, 0);
      if (values.json) out(toJson({ ...plan, totalEvents: total }, 2));
      else {
        out(
          `replay ${group} to ${describeTarget(target)}${untilTime ? ` until ${untilTime.toISOString()}` : ''} (pipeline ${plan.running ? 'running' : 'stopped'}):`,
        );
        const table = plan.partitions.map((p) => ({
          topic: p.topic,
          partition: String(p.partition),
          position: `${p.from} → ${p.to}`,
          until: p.until,
          events: String(p.events),
        }));
        for (const line of formatTable(table, ['topic', 'partition', 'position', 'until', 'events']))
          out(`  ${line}`);
        out(`  ${total} event(s) will be processed again`);
        if (plan.unflushed > 0)
          out(
            `  warning: ${plan.unflushed} member(s) of ${group} did not write the positions they hold in memory (an older Accord, or a consumer that is not an Accord pipeline): what they handled in their last checkpoint interval is processed again live, not as a replay`,
          );
      }
      if (values['dry-run']) return 0;
      const id = await ops.executeReplay({ ...plan, recompute: values.recompute === true }, who());
      if (!values.json) out(`replay #${id} recorded and applied`);
      if (values['no-wait'] || !plan.running || total === 0) return 0;
      return waitForReplay(ops, plan, values.json ? () => {} : out, timeout * 1000);
    });
  },
};
