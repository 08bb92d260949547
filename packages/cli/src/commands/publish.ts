import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import {
  AccordError,
  describeError,
  EventPublisher,
  openTelemetryFor,
  PublishIncompleteError,
  type PublishItem,
  UsageError,
} from '@accord/sdk';
import { projectCatalog } from '../catalog';
import type { Command, CommandContext } from '../command';
import { loadStack } from '../stack';

/** Lines per publishMany: bounds memory whatever the input's size (publishMany splits by bytes again). */
const CHUNK = 2000;

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

interface Line {
  n: number;
  type: string;
  entity: string;
  data: Record<string, unknown>;
}

const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** One input line as an event: its data, or {type, entity, data} overriding --type/--entity. */
function toLine(raw: string, n: number, where: string, values: CommandContext['values']): Line {
  const parsed = parseData(raw, where);
  const wrapped = 'data' in parsed && typeof parsed.data === 'object';
  const line = {
    n,
    type: (wrapped ? text(parsed.type) : undefined) ?? text(values.type) ?? '',
    entity: (wrapped ? text(parsed.entity) : undefined) ?? text(values.entity) ?? '',
    data: wrapped ? (parsed.data as Record<string, unknown>) : parsed,
  };
  if (!line.type) throw new UsageError(`${where}: missing event type: give --type`);
  if (!line.entity) throw new UsageError(`${where}: missing entity id: give --entity`);
  return line;
}

/** The non-blank lines of a stream, numbered from 1, as events. */
async function* events(
  input: Readable,
  label: string,
  values: CommandContext['values'],
): AsyncGenerator<Line> {
  let n = 0;
  for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    n++;
    if (raw.trim() !== '') yield toLine(raw, n, `${label} line ${n}`, values);
  }
}

function bar(done: number, total: number | undefined): string {
  if (total === undefined) return `[publish] ${done} event(s) sent`;
  const ratio = total === 0 ? 1 : done / total;
  const width = 30;
  const filled = Math.round(ratio * width);
  return `[publish] ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.round(ratio * 100)}% ${done}/${total} event(s)`;
}

export const publishCommand: Command = {
  name: 'publish',
  summary: 'validate, encode (Avro) and publish events to a topic',
  usage:
    "accord publish <topic> --type <EventType> --entity <id> --data '<json>'  |  --file events.ndjson  |  ... < events.ndjson",
  help: `Publishes one event (--data), or one per line of newline-delimited JSON (--file, or stdin). A line is
either the event's data, or {"type": "...", "entity": "...", "data": {...}} to override --type/--entity per
line. The envelope (event id, occurred-at, producer, ...) is filled in; the key is the entity id.

Any size streams with bounded memory, in order, with progress on stderr. With --file every line is checked
first (JSON, type, entity, every field against its schema): if any is invalid, none is sent, and the error
names the line and the field. From stdin the lines are checked ${CHUNK} at a time before each is sent: a bad
line stops the publish there, and the error says which lines were already published. If the broker fails
part-way, the error says how many events were acknowledged (in order; the idempotent producer never writes
one twice) and from which line to resume.

Options:
  --type <EventType>     full or short name, e.g. accord.commerce.OrderPlaced or OrderPlaced
  --entity <id>          the entity id (the Kafka key)
  --data <json>          the event's fields (without the envelope)
  --file <path>          newline-delimited JSON events (checked whole before anything is sent)
  --producer <name>      the envelope's producer (default accord-cli)
  --correlation <id>     correlation id for every event
  --json                 print the published events as JSON (one event), or a summary (many)`,
  options: {
    type: { type: 'string' },
    entity: { type: 'string' },
    data: { type: 'string' },
    file: { type: 'string' },
    producer: { type: 'string' },
    correlation: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out, err }) {
    const [topic, extra] = positionals;
    if (!topic) throw new UsageError('missing <topic> (see: accord publish --help)');
    if (extra) throw new UsageError(`unexpected argument "${extra}"`);
    const file = text(values.file);
    if (file !== undefined && values.data !== undefined)
      throw new UsageError('give --data or --file, not both');
    if (file !== undefined) {
      try {
        if (!statSync(file).isFile()) throw new Error('not a regular file');
      } catch (error) {
        throw new UsageError(`--file ${file}: ${(error as Error).message}`);
      }
    } else if (values.data === undefined && process.stdin.isTTY)
      throw new UsageError('give --data, --file, or newline-delimited JSON on stdin');
    const { config } = loadStack();
    // What an operator publishes starts a trace its consumers continue (exported when
    // OTEL_EXPORTER_OTLP_ENDPOINT names a collector; OTEL_SDK_DISABLED=true turns it off).
    const otel = openTelemetryFor('accord-cli');
    const publisher = new EventPublisher({
      config,
      catalog: projectCatalog(),
      producer: text(values.producer) ?? 'accord-cli',
    });
    const options = (line: Line) => ({
      entityId: line.entity,
      topic,
      ...(typeof values.correlation === 'string' ? { correlationId: values.correlation } : {}),
    });
    const check = (line: Line, where: string) => {
      try {
        publisher.validate(line.type, line.data, options(line));
      } catch (error) {
        if (error instanceof AccordError) error.message = `${where}: ${error.message}`;
        throw error;
      }
    };
    try {
      if (typeof values.data === 'string') {
        const line = toLine(values.data, 1, '--data', values);
        const sent = await publisher.publish(line.type, line.data, options(line));
        if (values.json) out(JSON.stringify(sent));
        else
          out(
            `published ${sent.eventType} ${sent.eventId} entity=${sent.entityId} to ${sent.topic}[${sent.partition}]@${sent.offset}`,
          );
        return 0;
      }
      const label = file ?? 'stdin';
      let total: number | undefined;
      if (file !== undefined) {
        // The first pass: every line checked before anything is sent.
        total = 0;
        for await (const line of events(createReadStream(file), label, values)) {
          check(line, `${label} line ${line.n}`);
          total++;
        }
        if (total === 0) throw new UsageError(`${file} holds no events`);
      }
      const input = file !== undefined ? createReadStream(file) : process.stdin;
      const tty = process.stderr.isTTY === true;
      let sent = 0;
      let lastLine = 0;
      let shown = 0;
      let chunk: Line[] = [];
      // One chunk in flight while the next is read and parsed (the wait for Kafka's acknowledgement is
      // otherwise idle time); never two: a failure must leave everything after the failed chunk unsent.
      let inFlight: Promise<void> = Promise.resolve();
      const flush = async () => {
        await inFlight;
        if (chunk.length === 0) return;
        if (file === undefined)
          for (const line of chunk) {
            try {
              check(line, `${label} line ${line.n}`);
            } catch (error) {
              if (sent > 0 && error instanceof AccordError)
                error.message = `${error.message} (lines 1–${lastLine}: ${sent} event(s) published before it; nothing after them was sent)`;
              throw error;
            }
          }
        const sending = chunk;
        chunk = [];
        const published = publisher.publishMany(
          sending.map(
            (line) => ({ type: line.type, data: line.data, options: options(line) }) as PublishItem<never>,
          ),
        );
        inFlight = published.then(
          () => {
            sent += sending.length;
            lastLine = sending[sending.length - 1]?.n ?? lastLine;
            if (tty) process.stderr.write(`\r${bar(sent, total)}`);
            else if (Date.now() - shown >= 5000) {
              err(bar(sent, total));
              shown = Date.now();
            }
          },
          (error: unknown) => {
            const acked = sent + (error instanceof PublishIncompleteError ? error.sent : 0);
            const resume = error instanceof PublishIncompleteError ? sending[error.sent]?.n : sending[0]?.n;
            throw new AccordError(
              error instanceof AccordError ? error.code : 'KAFKA_UNAVAILABLE',
              `${describeError(error)} — ${acked} event(s) of ${label} acknowledged in order; resume from line ${resume}`,
              { cause: error },
            );
          },
        );
        // A chunk that fails is reported by the next flush's await; keep Node from calling it unhandled meanwhile.
        inFlight.catch(() => {});
      };
      for await (const line of events(input, label, values)) {
        chunk.push(line);
        if (chunk.length >= CHUNK) await flush();
      }
      await flush();
      await inFlight;
      if (tty) process.stderr.write('\n');
      else if (sent > 0) err(bar(sent, total));
      if (sent === 0) throw new UsageError(`${label} held no events`);
      if (values.json) out(JSON.stringify({ published: sent, topic }));
      else out(`published ${sent} events to ${topic}`);
      return 0;
    } finally {
      await publisher.close();
      await otel?.shutdown();
    }
  },
};
