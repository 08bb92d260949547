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

export function who(): string {
  return process.env.ACCORD_USER || `${userInfo().username}@cli`;
}

/** Runs `work` with a connected admin client, a Kafka client and a Postgres pool, and closes them after. */
export async function withClients<T>(
  work: (c: { admin: Admin; kafka: Kafka; pool: Pool; brokers: string[] }) => Promise<T>,
): Promise<T> {
  const { config } = loadStack();
  const kafka = createKafka(config);
  const admin = kafka.admin();
  const pool = createPgPool(config.postgres.url, { max: 2 });
  await admin.connect();
  try {
    return await work({ admin, kafka, pool, brokers: config.kafka.brokers });
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
