import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import {
  AvroSerde,
  createKafka,
  createPgPool,
  type EventData,
  type EventName,
  EventPublisher,
  history,
  parseStartPosition,
  resolveEventName,
  resolvePositions,
  UsageError,
} from '@accord/sdk';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { loadStack } from '../stack';

function parseData(text: string, where: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new UsageError(`${where} must be a JSON object`);
  return data as Record<string, unknown>;
}

async function readLines(): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== '') lines.push(line);
  }
  return lines;
}

export const publishCommand: Command = {
  name: 'publish',
  summary: 'validate, encode (Avro) and publish events to a topic',
  usage: "accord publish <topic> --type <EventType> --entity <id> --data '<json>'  |  ... < events.ndjson",
  help: `Publishes one event (--data), or one per line of newline-delimited JSON on stdin. A line is either the
event's data, or {"type": "...", "entity": "...", "data": {...}} to override --type/--entity per line.
The envelope (event id, occurred-at, producer, ...) is filled in; the key is the entity id. Every event is
validated first: if any is invalid, none is sent, and the error names the line and the field.

Options:
  --type <EventType>     full or short name, e.g. accord.commerce.OrderPlaced or OrderPlaced
  --entity <id>          the entity id (the Kafka key)
  --data <json>          the event's fields (without the envelope)
  --producer <name>      the envelope's producer (default accord-cli)
  --correlation <id>     correlation id for every event
  --json                 print the published events as JSON`,
  options: {
    type: { type: 'string' },
    entity: { type: 'string' },
    data: { type: 'string' },
    producer: { type: 'string' },
    correlation: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [topic, extra] = positionals;
    if (!topic) throw new UsageError('missing <topic> (see: accord publish --help)');
    if (extra) throw new UsageError(`unexpected argument "${extra}"`);
    const items: { type: string; entity: string; data: Record<string, unknown> }[] = [];
    const fallback = (v: unknown) => (typeof v === 'string' ? v : undefined);
    if (typeof values.data === 'string') {
      items.push({
        type: fallback(values.type) ?? '',
        entity: fallback(values.entity) ?? '',
        data: parseData(values.data, '--data'),
      });
    } else {
      if (process.stdin.isTTY) throw new UsageError('give --data, or newline-delimited JSON on stdin');
      for (const [i, line] of (await readLines()).entries()) {
        const parsed = parseData(line, `stdin line ${i + 1}`);
        const wrapped = 'data' in parsed && typeof parsed.data === 'object';
        items.push({
          type: (wrapped ? fallback(parsed.type) : undefined) ?? fallback(values.type) ?? '',
          entity: (wrapped ? fallback(parsed.entity) : undefined) ?? fallback(values.entity) ?? '',
          data: wrapped ? (parsed.data as Record<string, unknown>) : parsed,
        });
      }
      if (items.length === 0) throw new UsageError('stdin held no events');
    }
    for (const [i, item] of items.entries()) {
      const where = items.length > 1 ? `line ${i + 1}: ` : '';
      if (!item.type) throw new UsageError(`${where}missing event type: give --type`);
      if (!item.entity) throw new UsageError(`${where}missing entity id: give --entity`);
    }
    const { config } = loadStack();
    const publisher = new EventPublisher({ config, producer: fallback(values.producer) ?? 'accord-cli' });
    try {
      const options = (item: (typeof items)[number]) => ({
        entityId: item.entity,
        topic,
        ...(typeof values.correlation === 'string' ? { correlationId: values.correlation } : {}),
      });
      if (items.length === 1) {
        const item = items[0]!;
        const sent = await publisher.publish(
          resolveEventName(item.type),
          item.data as EventData<EventName>,
          options(item),
        );
        if (values.json) out(JSON.stringify(sent));
        else
          out(
            `published ${sent.eventType} ${sent.eventId} entity=${sent.entityId} to ${sent.topic}[${sent.partition}]@${sent.offset}`,
          );
      } else {
        const sent = await publisher.publishMany(
          items.map((item) => ({
            type: item.type,
            data: item.data as EventData<EventName>,
            options: options(item),
          })),
        );
        if (values.json) out(JSON.stringify(sent));
        else out(`published ${sent.length} events to ${topic}`);
      }
    } finally {
      await publisher.close();
    }
    return 0;
  },
};

export const tailCommand: Command = {
  name: 'tail',
  summary: 'decode and print the records of a topic, with partition, offset, key and headers',
  usage: 'accord tail <topic> [--from earliest|latest|<ISO time>] [--entity <id>] [--max <n>] [--json]',
  help: `Reads a topic with a throw-away consumer group (deleted on exit) and prints each record decoded.
Records that do not decode are printed with the reason; reading goes on.

Options:
  --from <where>   earliest, latest (default), or an ISO time: start at the first record at or after it
  --entity <id>    only records with this key
  --max <n>        exit after n records
  --json           one JSON object per line: topic, partition, offset, key, timestamp, headers, schema, value`,
  options: {
    from: { type: 'string' },
    entity: { type: 'string' },
    max: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [topic] = positionals;
    if (!topic) throw new UsageError('missing <topic> (see: accord tail --help)');
    const from = parseStartPosition(typeof values.from === 'string' ? values.from : 'latest');
    const max = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
    if (!(max > 0) || (Number.isFinite(max) && !Number.isInteger(max)))
      throw new UsageError(`--max must be a positive integer, got "${values.max}"`);

    const { config } = loadStack();
    const kafka = createKafka(config);
    const serde = new AvroSerde({ registryUrl: config.schemaRegistry.url });
    const group = `accord-tail-${randomBytes(6).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 250 });
    try {
      if (!(await admin.listTopics()).includes(topic))
        throw new UsageError(`topic "${topic}" does not exist`);
      const offsets = await resolvePositions(admin, topic, from);
      // A fresh group is empty, so its positions can be set before the consumer joins.
      await admin.setOffsets({ groupId: group, topic, partitions: offsets });
      let printed = 0;
      let finish: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        finish = resolve;
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await consumer.connect();
      await consumer.subscribe({ topic });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (printed >= max) return;
          const key = message.key?.toString() ?? null;
          if (typeof values.entity === 'string' && key !== values.entity) return;
          const headers = Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
          );
          let decoded: { schemaName?: string; schemaId?: number; value?: unknown; error?: string };
          try {
            decoded = message.value ? await serde.decode(message.value) : { value: null };
          } catch (error) {
            decoded = {
              error: `${(error as { code?: string }).code ?? 'ERROR'}: ${(error as Error).message}`,
            };
          }
          printed++;
          if (values.json) {
            out(
              toJson({
                topic,
                partition,
                offset: message.offset,
                key,
                timestamp: message.timestamp,
                headers,
                ...decoded,
              }),
            );
          } else {
            const body = decoded.error
              ? `UNDECODABLE ${decoded.error}`
              : `${decoded.schemaName ?? '?'} ${toJson(decoded.value)}`;
            out(
              `${topic}[${partition}]@${message.offset} key=${key ?? '-'} ${body} headers=${JSON.stringify(headers)}`,
            );
          }
          if (printed >= max) finish();
        },
      });
      await done;
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([group]).catch(() => {});
      await admin.disconnect().catch(() => {});
    }
    return 0;
  },
};

export const eventsCommand: Command = {
  name: 'events',
  summary: "an entity's event history from the archive, oldest first",
  usage:
    'accord events <entityType> <entityId> [--since <ISO>] [--until <ISO>] [--type <T>]... [--limit <n>] [--json]',
  help: `Prints the archived events of one entity (written by services/archive), decoded, oldest first.

Options:
  --since <ISO>   from this time (inclusive)
  --until <ISO>   to this time (exclusive)
  --type <T>      only this event type (full or short name); repeat for several
  --limit <n>     the most recent n events (default 1000)
  --json          a JSON array`,
  options: {
    since: { type: 'string' },
    until: { type: 'string' },
    type: { type: 'string', multiple: true },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [entityType, entityId] = positionals;
    if (!entityType || !entityId)
      throw new UsageError('expected <entityType> <entityId> (see: accord events --help)');
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    const { config } = loadStack();
    const pool = createPgPool(config.postgres.url, { max: 1 });
    try {
      const events = await history(pool, {
        entityType,
        entityId,
        ...(typeof values.since === 'string' ? { since: values.since } : {}),
        ...(typeof values.until === 'string' ? { until: values.until } : {}),
        ...(Array.isArray(values.type) ? { types: values.type.map(String) } : {}),
        ...(limit === undefined ? {} : { limit }),
      });
      if (values.json) out(toJson(events, 2));
      else {
        const rows = events.map((e) => ({
          'occurred at': e.occurredAt.toISOString(),
          type: e.eventType.split('.').pop() ?? e.eventType,
          producer: e.producer,
          'event id': e.eventId,
          data: toJson(e.payload),
        }));
        for (const line of formatTable(rows, ['occurred at', 'type', 'producer', 'event id', 'data']))
          out(line);
        out(`(${events.length} event(s) of ${entityType} ${entityId})`);
      }
    } finally {
      await pool.end();
    }
    return 0;
  },
};
