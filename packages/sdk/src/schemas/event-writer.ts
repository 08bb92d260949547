import { Type } from 'avsc';
import type { EventEnvelope } from './types.generated';

/**
 * Writes an event record (its first field the platform's EventEnvelope, then the event's own fields) in
 * Avro binary without building the `{ envelope, ...data }` record: the envelope's fields by hand, the
 * type's constant strings (event type, entity type, producer) from bytes encoded once, the event's own
 * fields by avsc with a record type of those fields alone. The bytes are avsc's, byte for byte (a record
 * is its fields' encodings one after another; `event-writer.test.ts` checks it against avsc over random
 * events of every catalog type). Anything out of the ordinary (a string that is not well-formed UTF-16,
 * a time beyond ±2^52 ms, fields that do not validate) is declined: `write` returns undefined and the
 * caller takes avsc's whole-record path, which validates and names what is wrong.
 */
export class EventWriter {
  /** The last constant strings seen and their encodings: a publisher writes the same ones every time. */
  private eventTypeKey: string | undefined;
  private entityTypeKey: string | undefined;
  private typeBytes: Uint8Array = new Uint8Array(0);
  private producerKey: string | undefined;
  private producerBytes: Uint8Array = new Uint8Array(0);

  private constructor(private readonly payload: Type) {}

  /**
   * The writer of an event type, given its schema and avsc type; undefined when its first field is not
   * the envelope as written here (a schema that changed the envelope keeps avsc's path).
   */
  static of(schema: unknown, type: Type): EventWriter | undefined {
    const record = schema as { name?: string; fields?: unknown[] };
    const first = (type as unknown as { fields?: { name: string; type: Type }[] }).fields?.[0];
    if (first?.name !== 'envelope' || JSON.stringify(first.type.schema()) !== ENVELOPE || !record.fields)
      return undefined;
    try {
      // The event's own fields, as a record of their own in the event's namespace (so short names of
      // named types resolve as in the event's schema); its name is never written.
      const payload = Type.forSchema({
        ...record,
        name: `${record.name}Fields`,
        fields: record.fields.slice(1),
      } as Parameters<typeof Type.forSchema>[0]);
      return new EventWriter(payload);
    } catch {
      return undefined; // e.g. a field naming a type the envelope defines: avsc's path
    }
  }

  /**
   * Writes the record at `pos` of `buf`. Returns the position after it; a negative number (minus the
   * bytes missing, as avsc) when `buf` is too short; undefined when the event must take avsc's path.
   */
  write(buf: Buffer, pos: number, envelope: EventEnvelope, data: unknown): number | undefined {
    if (!this.payload.isValid(data)) return undefined;
    const e = envelope;
    if (
      typeof e.eventId !== 'string' ||
      typeof e.entityId !== 'string' ||
      typeof e.eventType !== 'string' ||
      typeof e.entityType !== 'string' ||
      typeof e.producer !== 'string' ||
      !Number.isSafeInteger(e.occurredAt) ||
      Math.abs(e.occurredAt) > 2 ** 52 ||
      !optionalString(e.causationId) ||
      !optionalString(e.correlationId) ||
      !Array.isArray(e.contractVersions) ||
      !e.eventId.isWellFormed() ||
      !e.entityId.isWellFormed()
    )
      return undefined;
    const versions = e.contractVersions;
    for (const v of versions) if (typeof v !== 'string' || !v.isWellFormed()) return undefined;
    if (e.eventType !== this.eventTypeKey || e.entityType !== this.entityTypeKey) {
      this.typeBytes = Buffer.concat([STRING.toBuffer(e.eventType), STRING.toBuffer(e.entityType)]);
      this.eventTypeKey = e.eventType;
      this.entityTypeKey = e.entityType;
    }
    if (e.producer !== this.producerKey) {
      this.producerBytes = STRING.toBuffer(e.producer);
      this.producerKey = e.producer;
    }
    // What the envelope can take at most: 5-byte lengths, 3 bytes a UTF-16 unit, 10 for the time.
    let most = 64 + this.typeBytes.length + this.producerBytes.length;
    most += 3 * (e.eventId.length + e.entityId.length);
    most += 3 * ((e.causationId?.length ?? 0) + (e.correlationId?.length ?? 0));
    for (const v of versions) most += 5 + 3 * v.length;
    if (pos + most > buf.length) return -(pos + most - buf.length);
    let at = writeString(buf, pos, e.eventId);
    at = copy(buf, at, this.typeBytes);
    at = writeString(buf, at, e.entityId);
    at = writeLong(buf, at, e.occurredAt);
    at = copy(buf, at, this.producerBytes);
    at = writeNullable(buf, at, e.causationId);
    at = writeNullable(buf, at, e.correlationId);
    if (versions.length > 0) {
      at = writeLong(buf, at, versions.length);
      for (const v of versions) at = writeString(buf, at, v);
    }
    buf[at++] = 0; // the array's end (an empty array is this byte alone)
    return this.payload.encode(data, buf, at);
  }
}

const STRING = Type.forSchema('string');

/** The envelope this writer writes, as avsc exports it (no docs, defaults or logical types). */
const ENVELOPE_TYPE = Type.forSchema({
  type: 'record',
  name: 'accord.platform.EventEnvelope',
  fields: [
    { name: 'eventId', type: 'string' },
    { name: 'eventType', type: 'string' },
    { name: 'entityType', type: 'string' },
    { name: 'entityId', type: 'string' },
    { name: 'occurredAt', type: 'long' },
    { name: 'producer', type: 'string' },
    { name: 'causationId', type: ['null', 'string'] },
    { name: 'correlationId', type: ['null', 'string'] },
    { name: 'contractVersions', type: { type: 'array', items: 'string' } },
  ],
});
const ENVELOPE = JSON.stringify(ENVELOPE_TYPE.schema());

function optionalString(v: unknown): v is string | null {
  return v === null || (typeof v === 'string' && v.isWellFormed());
}

function copy(buf: Buffer, at: number, bytes: Uint8Array): number {
  buf.set(bytes, at);
  return at + bytes.length;
}

/** Avro's long: zig-zag, then 7 bits a byte, low first (|n| ≤ 2^52 here, so float arithmetic is exact). */
function writeLong(buf: Buffer, at: number, n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    buf[at++] = (z % 0x80) | 0x80;
    z = Math.floor(z / 0x80);
  }
  buf[at++] = z;
  return at;
}

/**
 * Avro's string: its UTF-8 length as a long, then the bytes (the caller checked it is well formed and
 * left room). Written one byte on, where they go when the length fits a byte (under 64 bytes: ids,
 * names), and moved along in the rare other case: one native write, no `Buffer.byteLength` first. (A
 * loop over the characters, avsc's way, was 9 ns a character here: 340 ns for a UUID against 66.)
 */
function writeString(buf: Buffer, at: number, s: string): number {
  const len = buf.write(s, at + 1);
  if (len < 64) {
    buf[at] = len * 2;
    return at + 1 + len;
  }
  const head = writeLong(SCRATCH, 0, len);
  buf.copyWithin(at + head, at + 1, at + 1 + len);
  buf.set(SCRATCH.subarray(0, head), at);
  return at + head + len;
}

const SCRATCH = Buffer.alloc(10);

/** A ["null", "string"] union: branch 0 for null, else branch 1 and the string. */
function writeNullable(buf: Buffer, at: number, s: string | null): number {
  if (s === null) {
    buf[at] = 0;
    return at + 1;
  }
  buf[at] = 2; // zig-zag of branch 1
  return writeString(buf, at + 1, s);
}
