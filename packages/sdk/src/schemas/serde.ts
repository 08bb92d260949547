import type { Type } from 'avsc';
import { AccordError, DecodeError, describeError, RegistryError, UnavailableError } from '../errors';
import { PLATFORM_CATALOG, type SchemaSource } from '../events/catalog';
import { parseAvroSchema } from './canonical';
import type { CompatibilityMode } from './compatibility';
import { REPLAYABLE_DEFAULT_MODE } from './compatibility';
import { EventWriter } from './event-writer';
import { RegistryHttpClient } from './registry-client';
import type { EventEnvelope } from './types.generated';

export const MAGIC_BYTE = 0;

/** Reads the Confluent wire-format header: byte 0 is 0, bytes 1-4 the big-endian schema id. */
export function readWireHeader(buffer: Buffer): { schemaId: number; payload: Buffer } {
  if (buffer.length < 5) {
    throw new DecodeError(
      'WIRE_FORMAT_INVALID',
      `record is ${buffer.length} byte(s): too short for the Confluent wire format (5-byte header)`,
    );
  }
  if (buffer[0] !== MAGIC_BYTE) {
    throw new DecodeError(
      'WIRE_FORMAT_INVALID',
      `record starts with byte 0x${buffer[0]?.toString(16).padStart(2, '0')}, expected magic byte 0x00`,
    );
  }
  return { schemaId: buffer.readUInt32BE(1), payload: buffer.subarray(5) };
}

export interface SerdeOptions {
  registryUrl: string;
  /** Register catalog schemas on first use (tests, local runs). Production registers with `accord schemas register`. */
  autoRegister?: boolean;
  /** Mode set on subjects this serde registers. Default BACKWARD_TRANSITIVE. */
  compatibility?: CompatibilityMode;
  /** The schemas this serde encodes, and resolves old events to. Default: the platform records only. */
  catalog?: SchemaSource;
}

export interface Decoded {
  schemaId: number;
  /** Full name of the writer's record, e.g. accord.commerce.OrderPlaced. */
  schemaName: string;
  value: Record<string, unknown>;
}

/** Encoding scratch space, grown when an event does not fit (one process encodes one event at a time). */
let scratch = Buffer.alloc(64 * 1024);

/**
 * Encodes and decodes the Confluent wire format, talking to the registry with the SDK's REST client
 * (RegistryHttpClient), with an id cache per schema. Subjects follow RecordNameStrategy: the subject is the record's full name, so one topic
 * can carry several event types. Decoding resolves the writer's schema to the local one when the catalog
 * has it, so code always sees the current shape of old events.
 */
export class AvroSerde {
  private readonly http: RegistryHttpClient;
  readonly catalog: SchemaSource;
  private readonly ids = new Map<string, Promise<number>>();
  /** Ids already resolved: encodeEventKnown needs no promise for them (the hot path of publishMany). */
  private readonly knownIds = new Map<string, number>();
  private readonly readers = new Map<number, { name: string; read: (payload: Buffer) => unknown }>();
  /** Each event type's writer (null: its envelope is not the one EventWriter writes). */
  private readonly writers = new Map<string, EventWriter | null>();

  constructor(private readonly options: SerdeOptions) {
    this.http = new RegistryHttpClient(options.registryUrl);
    this.catalog = options.catalog ?? PLATFORM_CATALOG;
    if (typeof this.catalog?.avroType !== 'function')
      throw new AccordError('CONFIG_INVALID', 'option catalog must be an EventCatalog (defineCatalog)');
  }

  /** The registry id of the local (catalog) version of a schema; cached. */
  schemaId(name: string): Promise<number> {
    let id = this.ids.get(name);
    if (!id) {
      id = this.resolveId(name);
      this.ids.set(name, id);
      id.then(
        (known) => this.knownIds.set(name, known),
        () => this.ids.delete(name), // let a later call retry
      );
    }
    return id;
  }

  private async resolveId(name: string): Promise<number> {
    // Lookup and registration go through the REST client: its errors carry the registry's status and
    // error code (the @kafkajs client drops them on a 404, which hid "not registered yet" as "unreachable").
    const schema = JSON.stringify(this.catalog.schema(name));
    const found = await this.http.lookup(name, schema).catch((error: unknown) => {
      throw registryFailure(this.options.registryUrl, `looking up ${name}`, error);
    });
    if (found) return found.id;
    if (!this.options.autoRegister)
      throw new RegistryError(
        404,
        40403,
        `schema ${name} (as in schemas/) is not registered: run accord schemas register`,
      );
    try {
      if ((await this.http.subjectCompatibility(name)) === undefined)
        await this.http.setSubjectCompatibility(name, this.options.compatibility ?? REPLAYABLE_DEFAULT_MODE);
      return (await this.http.register(name, schema)).id;
    } catch (error) {
      throw registryFailure(this.options.registryUrl, `registering ${name}`, error);
    }
  }

  /** Validates, then encodes: 0x00, schema id (4 bytes, big-endian), Avro body. Nothing is encoded if invalid. */
  async encode(name: string, value: unknown): Promise<{ buffer: Buffer; schemaId: number }> {
    this.catalog.validate(name, value);
    return this.wire(name, value, await this.schemaId(name));
  }

  /**
   * An event (`envelope` first, then `data`'s fields) encoded as encode would, without a promise once its
   * schema's id is known (publishMany's hot path); undefined when it is not (yet). Written by the type's
   * EventWriter (no `{ envelope, ...data }` record built); what it declines takes avsc's way, which
   * validates and names what is wrong.
   */
  encodeEventKnown(
    name: string,
    envelope: EventEnvelope,
    data: Record<string, unknown>,
  ): { buffer: Buffer; schemaId: number } | undefined {
    const schemaId = this.knownIds.get(name);
    if (schemaId === undefined) return undefined;
    let writer = this.writers.get(name);
    if (writer === undefined) {
      writer = EventWriter.of(this.catalog.schema(name), this.catalog.avroType(name)) ?? null;
      this.writers.set(name, writer);
    }
    for (;;) {
      const end = writer?.write(scratch, 5, envelope, data);
      if (end === undefined) {
        const record = { ...data, envelope };
        this.catalog.validate(name, record);
        return this.wire(name, record, schemaId);
      }
      if (end >= 0) return this.copyOut(end, schemaId);
      scratch = Buffer.alloc(Math.max(scratch.length * 2, scratch.length - end));
    }
  }

  /** The wire format, encoded once behind its header in a scratch buffer, then copied out (one copy). */
  private wire(name: string, value: unknown, schemaId: number): { buffer: Buffer; schemaId: number } {
    const type = this.catalog.avroType(name);
    for (;;) {
      const end = type.encode(value, scratch, 5);
      if (end >= 0) return this.copyOut(end, schemaId);
      scratch = Buffer.alloc(Math.max(scratch.length * 2, scratch.length - end)); // avsc: -end bytes were missing
    }
  }

  /** The scratch's first `end` bytes behind the wire header, copied out. */
  private copyOut(end: number, schemaId: number): { buffer: Buffer; schemaId: number } {
    scratch.writeUInt8(0, 0);
    scratch.writeUInt32BE(schemaId, 1);
    // allocUnsafe carves small buffers out of Node's shared pool: Buffer.from(subarray) gave every
    // record an ArrayBuffer (and a backing store) of its own.
    const buffer = Buffer.allocUnsafe(end);
    scratch.copy(buffer, 0, 0, end);
    return { buffer, schemaId };
  }

  /** Decodes a wire-format record. Throws DecodeError: WIRE_FORMAT_INVALID, SCHEMA_NOT_FOUND or DECODE_FAILED. */
  async decode(buffer: Buffer): Promise<Decoded> {
    const { schemaId, payload } = readWireHeader(buffer);
    return this.read(schemaId, payload, await this.reader(schemaId));
  }

  /**
   * decode() without a promise when the writer's schema is already known (every record but a schema's
   * first): a consumer's hot path. Undefined when the schema must be fetched first (call decode()).
   */
  decodeKnown(buffer: Buffer): Decoded | undefined {
    const { schemaId, payload } = readWireHeader(buffer);
    const reader = this.readers.get(schemaId);
    return reader ? this.read(schemaId, payload, reader) : undefined;
  }

  private read(
    schemaId: number,
    payload: Buffer,
    reader: { name: string; read: (payload: Buffer) => unknown },
  ): Decoded {
    try {
      return { schemaId, schemaName: reader.name, value: reader.read(payload) as Record<string, unknown> };
    } catch (error) {
      throw new DecodeError(
        'DECODE_FAILED',
        `body does not decode with schema id ${schemaId} (${reader.name}): ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  private async reader(schemaId: number): Promise<{ name: string; read: (payload: Buffer) => unknown }> {
    const cached = this.readers.get(schemaId);
    if (cached) return cached;
    let writer: Type;
    try {
      const registered = await this.http.schemaById(schemaId);
      // A schema with references names types defined in other subjects: they are parsed first.
      writer = parseAvroSchema(registered.schema, {
        references: await this.http.withReferences(registered),
      }).type;
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) {
        throw new DecodeError(
          'SCHEMA_NOT_FOUND',
          `schema id ${schemaId} is not in the registry at ${this.options.registryUrl}`,
        );
      }
      throw registryFailure(this.options.registryUrl, `fetching schema id ${schemaId}`, error);
    }
    const name = (writer as unknown as { name?: string }).name ?? writer.toString();
    const local = this.catalog.has(name) ? this.catalog.avroType(name) : undefined;
    let read: (payload: Buffer) => unknown;
    if (local && local.toString() !== writer.toString()) {
      const resolver = local.createResolver(writer);
      read = (payload) => local.fromBuffer(payload, resolver, true);
    } else {
      read = (payload) => writer.fromBuffer(payload, undefined, true);
    }
    const entry = { name, read };
    this.readers.set(schemaId, entry);
    return entry;
  }
}

function registryFailure(url: string, doing: string, error: unknown): Error {
  if (error instanceof UnavailableError) return error;
  if (error instanceof RegistryError)
    return new RegistryError(error.status, error.errorCode, `${doing}: ${error.message}`);
  if (error instanceof AccordError) return error; // an invalid schema from the registry, said as such
  return new UnavailableError(
    'SCHEMA_REGISTRY_UNAVAILABLE',
    `${doing}: schema registry at ${url} failed: ${describeError(error)}`,
    { cause: error },
  );
}
