import { userInfo } from 'node:os';
import {
  type Admin,
  addConsumer,
  createKafka,
  createPgPool,
  DLQ_REPLAY_HEADER,
  describeTarget,
  executeReplay,
  type Kafka,
  type Pool,
  parseStartPosition,
  pipelineLag,
  planReplay,
  type ReplayTarget,
  readDeadLetters,
  recordDeadLetterAction,
  UsageError,
} from '@accord/sdk';
import { type Command, type CommandContext, formatTable } from '../command';
import { toJson } from '../json';
import { loadStack } from '../stack';

function who(): string {
  return process.env.ACCORD_USER || `${userInfo().username}@cli`;
}

/** Runs `work` with a connected admin client, a Kafka client and a Postgres pool, and closes them after. */
async function withClients<T>(
  work: (c: { admin: Admin; kafka: Kafka; pool: Pool }) => Promise<T>,
): Promise<T> {
  const { config } = loadStack();
  const kafka = createKafka(config);
  const admin = kafka.admin();
  const pool = createPgPool(config.postgres.url, { max: 2 });
  await admin.connect();
  try {
    return await work({ admin, kafka, pool });
  } finally {
    await admin.disconnect().catch(() => {});
    await pool.end().catch(() => {});
  }
}

export const consumersCommand: Command = {
  name: 'consumers',
  summary: 'add a consumer group to a topic at a chosen position',
  usage: 'accord consumers add <group> --topic <t> [--from earliest|latest|<ISO time>] [--json]',
  help: `Registers a new pipeline's starting checkpoint on a topic (a time resolves to the first offset at or
after it, per partition), and sets Kafka's committed offsets to match. The consumer that joins the group
later starts exactly there. Refused if the group already has checkpoints on the topic (use accord replay).

Options:
  --topic <t>      the topic
  --from <where>   earliest, latest (default) or an ISO time
  --json           print the positions as JSON`,
  options: { topic: { type: 'string' }, from: { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values, out }) {
    const [sub, group] = positionals;
    if (sub !== 'add')
      throw new UsageError(
        `expected "add", got ${sub ? `"${sub}"` : 'nothing'} (see: accord consumers --help)`,
      );
    if (!group) throw new UsageError('missing <group>');
    if (typeof values.topic !== 'string') throw new UsageError('missing --topic <t>');
    const topic = values.topic;
    const from = parseStartPosition(typeof values.from === 'string' ? values.from : 'latest');
    const added = await withClients(({ admin, pool }) => addConsumer(admin, pool, group, topic, from));
    if (values.json) out(JSON.stringify(added, null, 2));
    else {
      out(`added group ${group} on ${topic} from ${from instanceof Date ? from.toISOString() : from}:`);
      for (const p of added.positions) out(`  ${topic}[${p.partition}] starts at offset ${p.offset}`);
    }
    return 0;
  },
};

function lagRows(rows: Awaited<ReturnType<typeof pipelineLag>>) {
  return rows.map((r) => ({
    group: r.group,
    topic: r.topic,
    partition: String(r.partition),
    checkpoint: r.checkpoint,
    'log end': r.logEnd,
    lag: String(r.lag),
    'last progress': `${r.idleSeconds}s ago`,
    state: r.stuck ? 'STUCK' : r.replaying ? 'replaying' : r.lag > 0 ? 'behind' : 'caught up',
  }));
}

export const checkpointsCommand: Command = {
  name: 'checkpoints',
  summary: 'list pipeline positions (pipeline_checkpoints) with lag and last progress',
  usage: 'accord checkpoints [<group>] [--json]',
  help: `Lists each group's checkpoint per topic-partition: the next offset, its type and value, the log end,
the lag and when it last moved.

Options:
  --json   machine-readable output`,
  options: { json: { type: 'boolean' } },
  async run({ positionals, values, out }) {
    const [group] = positionals;
    const rows = await withClients(({ admin, pool }) => pipelineLag(admin, pool, group ? { group } : {}));
    if (values.json) out(toJson(rows, 2));
    else {
      const table = rows.map((r) => ({
        group: r.group,
        topic: r.topic,
        partition: String(r.partition),
        offset: r.checkpoint,
        type: r.checkpointType,
        value: r.checkpointValue,
        lag: String(r.lag),
        updated: r.updatedAt.toISOString(),
      }));
      for (const line of formatTable(table, [
        'group',
        'topic',
        'partition',
        'offset',
        'type',
        'value',
        'lag',
        'updated',
      ]))
        out(line);
      if (rows.length === 0) out(group ? `(no checkpoints for ${group})` : '(no checkpoints)');
    }
    return 0;
  },
};

export const lagCommand: Command = {
  name: 'lag',
  summary: 'lag and time since last progress per group and partition; flags stuck pipelines',
  usage: 'accord lag [<group>] [--stuck-after <seconds>] [--json]',
  help: `Lag is the log end minus the checkpoint. A partition with lag whose checkpoint has not moved for longer
than --stuck-after (default 300 s) is STUCK; the command then exits 1 (usable as an alarm).

Options:
  --stuck-after <s>   seconds without progress before lag counts as stuck (default 300)
  --json              machine-readable output`,
  options: { 'stuck-after': { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values, out, err }) {
    const [group] = positionals;
    const stuckAfterSeconds = values['stuck-after'] === undefined ? 300 : Number(values['stuck-after']);
    if (!Number.isFinite(stuckAfterSeconds) || stuckAfterSeconds < 0)
      throw new UsageError(`--stuck-after must be a number of seconds, got "${values['stuck-after']}"`);
    const rows = await withClients(({ admin, pool }) =>
      pipelineLag(admin, pool, { ...(group ? { group } : {}), stuckAfterSeconds }),
    );
    if (values.json) out(toJson(rows, 2));
    else
      for (const line of formatTable(lagRows(rows), [
        'group',
        'topic',
        'partition',
        'checkpoint',
        'log end',
        'lag',
        'last progress',
        'state',
      ]))
        out(line);
    const stuck = rows.filter((r) => r.stuck);
    if (stuck.length) {
      err(
        `accord lag: ${stuck.length} stuck partition(s): ${stuck.map((s) => `${s.group} ${s.topic}[${s.partition}]`).join(', ')}`,
      );
      return 1;
    }
    return 0;
  },
};

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

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a pipeline from a time or offset, running or stopped',
  usage:
    'accord replay <group> (--to-time <ISO> | --to-offset <n> | --to-earliest) [--until <ISO>] [--dry-run] [--no-wait] [--json]',
  help: `Moves a group's checkpoints back so its events are processed again. Handlers see ctx.replay = true
for re-processed events (skip external side effects there).

Works while the pipeline runs: rows move with a compare-and-set on their epoch, which fences the running
instances' in-flight commits, and a Postgres NOTIFY tells them to re-read the checkpoints and seek: no
restart, no lost events. Works while it is stopped too (table and Kafka's committed offsets move together).
Every replay is recorded in pipeline_replays (who, when, from → to).

Options:
  --to-time <ISO>    re-process events at or after this time
  --to-offset <n>    re-process from this offset (every partition)
  --to-earliest      re-process everything still in the topic
  --until <ISO>      stop re-processing at this time, then continue live from where the pipeline was
  --dry-run          print the plan (per partition: current → new position, events to re-process) only
  --no-wait          do not wait for the pipeline to catch up (no progress bar)
  --json             print the plan as JSON`,
  options: {
    'to-time': { type: 'string' },
    'to-offset': { type: 'string' },
    'to-earliest': { type: 'boolean' },
    until: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'no-wait': { type: 'boolean' },
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
    return withClients(async ({ admin, pool }) => {
      const plan = await planReplay(admin, pool, group, target, untilTime);
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
      }
      if (values['dry-run']) return 0;
      const id = await executeReplay(admin, pool, plan, who());
      if (!values.json) out(`replay #${id} recorded and applied`);
      if (values['no-wait'] || !plan.running || total === 0) return 0;
      // Progress until every partition is past the replay.
      const started = Date.now();
      for (;;) {
        const rows = (await pipelineLag(admin, pool, { group })).filter((r) =>
          plan.partitions.some((p) => p.topic === r.topic && p.partition === r.partition),
        );
        const done = plan.partitions.reduce((sum, p) => {
          const r = rows.find((x) => x.topic === p.topic && x.partition === p.partition);
          if (!r || !r.replaying) return sum + p.events;
          return sum + Math.max(0, Math.min(p.events, Number(BigInt(r.checkpoint) - BigInt(p.to))));
        }, 0);
        if (!values.json) process.stderr.write(`\r  ${bar(done, total)}`);
        if (rows.every((r) => !r.replaying)) break;
        if (Date.now() - started > 30 * 60 * 1000)
          throw new UsageError('the pipeline has not caught up after 30 minutes; see accord lag');
        await new Promise((r) => setTimeout(r, 500));
      }
      if (!values.json) {
        process.stderr.write('\n');
        out(`caught up: ${total} event(s) re-processed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      }
      return 0;
    });
  },
};

export const dlqCommand: Command = {
  name: 'dlq',
  summary: "list, replay or discard a pipeline's dead letters",
  usage: 'accord dlq list|replay|discard <group> [--offset <n>]... [--all] [--json]',
  help: `Dead letters live in the topic <group>.dlq with the original bytes, topic/partition/offset, error code
and message, and attempts. Actions are recorded in pipeline_dead_letter_actions.

  list      every dead letter with its reason and what was done about it
  replay    send the original record back to its topic, for this group only (other groups skip it)
  discard   mark dead letters as handled without re-processing

Options:
  --offset <n>   the dead letter's offset in <group>.dlq (repeat for several)
  --all          every dead letter not yet replayed or discarded
  --json         machine-readable output (list)`,
  options: {
    offset: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [sub, group] = positionals;
    if (sub !== 'list' && sub !== 'replay' && sub !== 'discard')
      throw new UsageError(`expected list, replay or discard, got ${sub ? `"${sub}"` : 'nothing'}`);
    if (!group) throw new UsageError('missing <group>');
    const { config } = loadStack();
    return withClients(async ({ admin, kafka, pool }) => {
      const entries = await readDeadLetters(admin, pool, kafka, group);
      const { AvroSerde } = await import('@accord/sdk');
      const serde = new AvroSerde({ registryUrl: config.schemaRegistry.url });
      const decoded = await Promise.all(
        entries.map(async (e) => {
          try {
            return { ...e, letter: e.value ? (await serde.decode(e.value)).value : null };
          } catch {
            return {
              ...e,
              letter: e.value ? (JSON.parse(e.value.toString()) as Record<string, unknown>) : null,
            };
          }
        }),
      );
      if (sub === 'list') {
        if (values.json)
          out(
            toJson(
              decoded.map(({ value: _v, ...rest }) => rest),
              2,
            ),
          );
        else {
          const table = decoded.map((d) => ({
            offset: d.dlqOffset,
            source: `${d.letter?.topic}[${d.letter?.partition}]@${d.letter?.offset}`,
            error: String(d.letter?.errorCode ?? '?'),
            attempts: String(d.letter?.attempts ?? '?'),
            message: String(d.letter?.errorMessage ?? '').slice(0, 80),
            action: d.action ?? '-',
          }));
          for (const line of formatTable(table, [
            'offset',
            'source',
            'error',
            'attempts',
            'message',
            'action',
          ]))
            out(line);
          out(
            `(${entries.length} dead letter(s) for ${group}; ${entries.filter((e) => !e.action).length} open)`,
          );
        }
        return 0;
      }
      const wanted = Array.isArray(values.offset) ? values.offset.map(String) : [];
      if (!values.all && wanted.length === 0) throw new UsageError('give --offset <n> (repeatable) or --all');
      const chosen = values.all
        ? decoded.filter((d) => !d.action)
        : decoded.filter((d) => wanted.includes(d.dlqOffset));
      const missing = wanted.filter((w) => !decoded.some((d) => d.dlqOffset === w));
      if (missing.length)
        throw new UsageError(`no dead letter at offset(s) ${missing.join(', ')} in ${group}.dlq`);
      if (sub === 'replay') {
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        try {
          for (const d of chosen) {
            const letter = d.letter as {
              topic: string;
              key: Buffer | null;
              value: Buffer | null;
              headers: Record<string, string>;
            } | null;
            if (!letter) continue;
            await producer.send({
              topic: letter.topic,
              acks: -1,
              messages: [
                {
                  key: letter.key,
                  value: letter.value,
                  headers: { ...letter.headers, [DLQ_REPLAY_HEADER]: group },
                },
              ],
            });
          }
        } finally {
          await producer.disconnect();
        }
      }
      await recordDeadLetterAction(
        pool,
        group,
        chosen.map((d) => d.dlqOffset),
        sub === 'replay' ? 'replayed' : 'discarded',
        who(),
      );
      out(`${sub === 'replay' ? 'replayed' : 'discarded'} ${chosen.length} dead letter(s) of ${group}`);
      return 0;
    });
  },
};
