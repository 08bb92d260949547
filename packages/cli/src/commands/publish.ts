import { createInterface } from 'node:readline';
import { EventPublisher, openTelemetryFor, UsageError } from '@accord/sdk';
import { projectCatalog } from '../catalog';
import type { Command } from '../command';
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
    // What an operator publishes starts a trace its consumers continue (exported when
    // OTEL_EXPORTER_OTLP_ENDPOINT names a collector; OTEL_SDK_DISABLED=true turns it off).
    const otel = openTelemetryFor('accord-cli');
    const publisher = new EventPublisher({
      config,
      catalog: projectCatalog(),
      producer: fallback(values.producer) ?? 'accord-cli',
    });
    try {
      const options = (item: (typeof items)[number]) => ({
        entityId: item.entity,
        topic,
        ...(typeof values.correlation === 'string' ? { correlationId: values.correlation } : {}),
      });
      if (items.length === 1) {
        const item = items[0]!;
        const sent = await publisher.publish(item.type, item.data, options(item));
        if (values.json) out(JSON.stringify(sent));
        else
          out(
            `published ${sent.eventType} ${sent.eventId} entity=${sent.entityId} to ${sent.topic}[${sent.partition}]@${sent.offset}`,
          );
      } else {
        const sent = await publisher.publishMany(
          items.map((item) => ({
            type: item.type,
            data: item.data,
            options: options(item),
          })),
        );
        if (values.json) out(JSON.stringify(sent));
        else out(`published ${sent.length} events to ${topic}`);
      }
    } finally {
      await publisher.close();
      await otel?.shutdown();
    }
    return 0;
  },
};
