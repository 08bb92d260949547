import type { KafkaSasl } from '../config';
import { UnavailableError } from '../errors';
import { sendRaw } from './kafka-raw';

/**
 * The identity of a Kafka log: which cluster, and which incarnation of a topic (its topic id, new each
 * time a topic is created). Checkpoints record it so that a checkpoint is never applied to another log.
 *
 * kafkajs speaks Metadata up to v6, which carries the cluster id but no topic ids (added in v10, KIP-516),
 * so this module sends one Metadata v12 request itself: a flexible-version request encoded here, sent
 * over a kafkajs connection (which authenticates: kafka-raw.ts), instead of a second Kafka client. When
 * it cannot get an answer, callers fall back to the cluster id alone (and say so).
 */
export interface KafkaEndpoint {
  brokers: string[];
  sasl?: KafkaSasl | undefined;
}

export interface TopicIdentity {
  topicId: string;
  partitions: number;
}

export interface LogIdentity {
  clusterId: string;
  /** Topics that exist, by name. */
  topics: Map<string, TopicIdentity>;
}

const API_METADATA = 3;
const VERSION = 12;

class Writer {
  private readonly parts: Buffer[] = [];
  int8(v: number) {
    this.parts.push(Buffer.from([v & 0xff]));
  }
  int16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
  }
  int32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
  }
  uvarint(v: number) {
    const bytes: number[] = [];
    let n = v >>> 0;
    while (n >= 0x80) {
      bytes.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    bytes.push(n);
    this.parts.push(Buffer.from(bytes));
  }
  raw(b: Buffer) {
    this.parts.push(b);
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  int8() {
    return this.buf.readInt8(this.at++);
  }
  int16() {
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32() {
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  uvarint(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = this.buf.readUInt8(this.at++);
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  /** Compact (nullable) string: length + 1 as an unsigned varint, 0 for null. */
  string(): string | null {
    const n = this.uvarint();
    return n === 0 ? null : this.bytes(n - 1).toString('utf8');
  }
  array<T>(item: () => T): T[] {
    const n = this.uvarint();
    return n === 0 ? [] : Array.from({ length: n - 1 }, item);
  }
  taggedFields() {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.bytes(this.uvarint());
    }
  }
}

/** Metadata v12 request: the request header's tagged fields (header v2), then the body, for some topics (by name). */
function encodeRequest(topics: string[]): Buffer {
  const w = new Writer();
  w.uvarint(0); // header tagged fields
  w.uvarint(topics.length + 1);
  for (const topic of topics) {
    w.raw(Buffer.alloc(16)); // topic id: zero, asking by name
    const name = Buffer.from(topic);
    w.uvarint(name.length + 1);
    w.raw(name);
    w.uvarint(0);
  }
  w.int8(0); // allow_auto_topic_creation
  w.int8(0); // include_topic_authorized_operations
  w.uvarint(0);
  return w.done();
}

export function decodeMetadataResponse(body: Buffer): LogIdentity {
  const r = new Reader(body);
  r.int32(); // correlation id
  r.taggedFields();
  r.int32(); // throttle
  r.array(() => {
    r.int32();
    r.string();
    r.int32();
    r.string();
    r.taggedFields();
  });
  const clusterId = r.string() ?? '';
  r.int32(); // controller
  const topics = new Map<string, TopicIdentity>();
  for (const t of r.array(() => {
    const error = r.int16();
    const name = r.string();
    const topicId = r.bytes(16).toString('base64url');
    r.int8();
    const partitions = r.array(() => {
      r.int16();
      r.int32();
      r.int32();
      r.int32();
      r.array(() => r.int32());
      r.array(() => r.int32());
      r.array(() => r.int32());
      r.taggedFields();
    }).length;
    r.int32();
    r.taggedFields();
    return { error, name, topicId, partitions };
  })) {
    // 3 = UNKNOWN_TOPIC_OR_PARTITION: the topic does not exist (absent from the map).
    if (t.error === 0 && t.name) topics.set(t.name, { topicId: t.topicId, partitions: t.partitions });
  }
  return { clusterId, topics };
}

/** The cluster id and the ids of `topics` (those that exist), from the first broker that answers. */
export async function fetchLogIdentity(
  kafka: KafkaEndpoint,
  topics: string[],
  options: { clientId?: string; timeoutMs?: number } = {},
): Promise<LogIdentity> {
  const body = encodeRequest(topics);
  const failures: string[] = [];
  for (const broker of kafka.brokers) {
    try {
      const answer = await sendRaw(broker, kafka.sasl, {
        apiKey: API_METADATA,
        apiVersion: VERSION,
        apiName: 'Metadata',
        body,
        clientId: options.clientId ?? 'accord-identity',
        timeoutMs: options.timeoutMs ?? 5000,
      });
      // The decoder reads a whole response: the correlation id kafkajs consumed comes back as zeros.
      return decodeMetadataResponse(Buffer.concat([Buffer.alloc(4), answer]));
    } catch (error) {
      failures.push(`${broker}: ${(error as Error).message}`);
    }
  }
  throw new UnavailableError(
    'KAFKA_UNAVAILABLE',
    `cannot read the cluster and topic ids (Metadata v12): ${failures.join('; ')}`,
  );
}
