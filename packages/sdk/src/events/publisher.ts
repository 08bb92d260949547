import { randomUUID } from 'node:crypto';
import type { Kafka, Message, Producer } from 'kafkajs';
import { type ResolvedConfig, resolveConfig } from '../config';
import { AccordError } from '../errors';
import { createKafka } from '../infra/clients';
import { AvroSerde } from '../schemas/serde';
import type { EventEnvelope } from '../schemas/types.generated';
import { carriedTrace } from '../telemetry/carried';
import { ATTR, injectTrace, inSpan, linkFrom, SpanKind } from '../telemetry/tracing';
import {
  type AnyEvents,
  type EventCatalog,
  type EventData,
  type EventName,
  PLATFORM_CATALOG,
  type TypeMap,
} from './catalog';
import { byTopic, kafkaFailure, requestChunks } from './produce';
import { SendQueue } from './send-queue';

/** Header names Accord puts on every event. */
export const HEADERS = {
  eventId: 'accord-event-id',
  eventType: 'accord-event-type',
  entityType: 'accord-entity-type',
  schemaId: 'accord-schema-id',
  traceparent: 'traceparent',
} as const;

export interface PublishOptions {
  /** The entity the event is about: the Kafka key. Required. */
  entityId: string;
  /** Needed only for event types not tied to one entity (platform records such as Decision). */
  entityType?: string;
  /** Defaults to `<domain>.<entity>.events`. */
  topic?: string;
  eventId?: string;
  occurredAt?: Date | number;
  causationId?: string | null;
  correlationId?: string | null;
  contractVersions?: string[];
  headers?: Record<string, string>;
}

/** One event of a publishMany: its type, its own fields, where it goes. */
export type PublishItem<Types extends TypeMap> =
  | {
      [N in EventName<Types>]: { type: N; data: EventData<Types, N>; options: PublishOptions };
    }[EventName<Types>]
  // A short name (OrderPlaced) or a name known only at run time: checked when the event is validated.
  | { type: string; data: Record<string, unknown>; options: PublishOptions };

export interface PublishedEvent {
  eventId: string;
  eventType: string;
  entityId: string;
  topic: string;
  schemaId: number;
}

/** An event validated and encoded, ready for a produce request. */
export interface Prepared {
  topic: string;
  message: Message;
  event: PublishedEvent;
}

export interface PublishedRecord extends PublishedEvent {
  partition: number;
  offset: string;
}

export interface PublisherOptions<Types extends TypeMap = AnyEvents> {
  config?: ResolvedConfig;
  /** The event types it may publish (defineCatalog). Default: the platform records only. */
  catalog?: EventCatalog<Types>;
  /** The agent or service that emits: goes into every envelope's `producer`. */
  producer: string;
  serde?: AvroSerde;
  /** Register catalog schemas on first use (local runs and tests). */
  autoRegister?: boolean;
  /**
   * Most bytes (keys, values, headers) one produce request of publishMany carries; a larger batch is sent
   * as several requests, in order. The broker refuses a record batch over its message.max.bytes (1 MiB by
   * default), so the default stays well under it. Default 512 KiB.
   */
  maxRequestBytes?: number;
}

/** publishMany stopped part-way: `sent` events (the first ones, in order) were acknowledged; none after them. */
export class PublishIncompleteError extends AccordError {
  constructor(
    readonly sent: number,
    readonly total: number,
    message: string,
    cause: AccordError,
  ) {
    super(cause.code, message, { cause, retriable: cause.retriable });
  }
}

/** A publisher of any domain, for platform code that publishes only platform records (proposals, decisions). */
// biome-ignore lint/suspicious/noExplicitAny: platform records are in every catalog, whatever its type map
export type SomePublisher = EventPublisher<any>;

/**
 * Publishes domain events. Ordering contract: the key is the entity id, so all events of one entity go
 * to one partition of the entity's topic and are read in the order they were published (the producer is
 * idempotent with one request in flight, acks=all: retries never reorder or duplicate).
 * Nothing is reported as published that the broker did not acknowledge.
 */
export class EventPublisher<Types extends TypeMap = AnyEvents> {
  readonly serde: AvroSerde;
  readonly catalog: EventCatalog<Types>;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private readonly maxRequestBytes: number;
  /** Single publishes, sent together while a request is out (send-queue.ts). */
  private readonly queue: SendQueue;

  constructor(private readonly options: PublisherOptions<Types>) {
    const config = options.config ?? resolveConfig();
    if (!options.producer || typeof options.producer !== 'string') {
      throw new AccordError(
        'CONFIG_INVALID',
        'option producer must name the agent or service that publishes',
      );
    }
    this.maxRequestBytes = options.maxRequestBytes ?? 512 * 1024;
    if (!Number.isInteger(this.maxRequestBytes) || this.maxRequestBytes < 1024)
      throw new AccordError(
        'CONFIG_INVALID',
        `option maxRequestBytes must be an integer ≥ 1024, got ${options.maxRequestBytes}`,
      );
    this.queue = new SendQueue(this.maxRequestBytes);
    this.kafka = createKafka(config);
    this.catalog = options.catalog ?? (PLATFORM_CATALOG as unknown as EventCatalog<Types>);
    this.serde =
      options.serde ??
      new AvroSerde({
        registryUrl: config.schemaRegistry.url,
        autoRegister: options.autoRegister ?? false,
        catalog: this.catalog,
      });
  }

  private connect(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.connecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: this.queue.createPartitioner,
        allowAutoTopicCreation: false,
      });
      try {
        await producer.connect();
      } catch (error) {
        this.connecting = undefined;
        throw kafkaFailure('connecting the producer', error);
      }
      this.producer = producer;
      return producer;
    })();
    return this.connecting;
  }

  /**
   * Checks an event as publish would (type, entity id and type, every field against the schema) without
   * encoding or sending it: what `accord publish --file` runs over a whole file before sending any of it.
   */
  validate(type: string, data: Record<string, unknown>, options: PublishOptions): void {
    const { eventType, record } = this.envelop(type, data as never, options);
    this.catalog.validate(eventType, record());
  }

  private envelop<N extends EventName<Types>>(
    type: N | string,
    data: EventData<Types, N>,
    options: PublishOptions,
  ) {
    const eventType = this.catalog.resolveEventName(type) as N;
    if (typeof options?.entityId !== 'string' || options.entityId.trim() === '') {
      throw new AccordError(
        'EVENT_INVALID',
        `entityId is required for ${eventType}: it is the Kafka key that keeps an entity's events in order`,
      );
    }
    const entityType = options.entityType ?? this.catalog.entityTypeOf(eventType);
    if (!entityType) {
      throw new AccordError(
        'EVENT_INVALID',
        `entityType is required for ${eventType}, which is not tied to one entity type`,
      );
    }
    const topic = options.topic ?? this.catalog.eventsTopic(entityType);
    const occurredAt = options.occurredAt === undefined ? Date.now() : new Date(options.occurredAt).getTime();
    if (!Number.isFinite(occurredAt))
      throw new AccordError('EVENT_INVALID', `occurredAt is not a valid time: ${String(options.occurredAt)}`);
    const envelope: EventEnvelope = {
      eventId: options.eventId ?? randomUUID(),
      eventType,
      entityType,
      entityId: options.entityId,
      occurredAt,
      producer: this.options.producer,
      causationId: options.causationId ?? null,
      correlationId: options.correlationId ?? null,
      contractVersions: options.contractVersions ?? [],
    };
    // The whole record is built only where avsc takes it (validation, a type's first event); the hot
    // path writes envelope and data as they are (AvroSerde.encodeEventKnown).
    const record = () => ({ ...data, envelope }) as unknown as Types[N];
    return { eventType, entityType, topic, envelope, record };
  }

  /**
   * Validates and encodes one event; nothing is sent. The active trace context goes into its headers
   * (W3C traceparent, by the registered propagator), unless its options' headers already carry one (the
   * outbox relay gives each decision event the context of the decision that made it).
   */
  async prepare<N extends EventName<Types>>(
    type: N | string,
    data: EventData<Types, N>,
    options: PublishOptions,
  ): Promise<Prepared> {
    return this.prepareWith(type, data, options, injectTrace({}));
  }

  /**
   * prepare, without a promise once the type's schema id is known (publishMany's hot path; the first event
   * of a type waits for its id). `trace`: the context its headers carry (publishMany's, injected once for
   * the batch).
   */
  private prepareWith(
    type: string,
    data: Record<string, unknown>,
    options: PublishOptions,
    trace: Record<string, string>,
  ): Prepared | Promise<Prepared> {
    const e = this.envelop(type, data as never, options);
    const known = this.serde.encodeEventKnown(e.eventType, e.envelope, data);
    if (known) return this.message(e, options, known, trace);
    return this.serde
      .encode(e.eventType, e.record())
      .then((encoded) => this.message(e, options, encoded, trace));
  }

  private message(
    e: { eventType: string; entityType: string; topic: string; envelope: EventEnvelope },
    options: PublishOptions,
    { buffer, schemaId }: { buffer: Buffer; schemaId: number },
    trace: Record<string, string>,
  ): Prepared {
    const carried = options.headers?.[HEADERS.traceparent];
    // Built key by key, not by spreads: this runs once per event of every publishMany.
    const headers: Record<string, string> = {};
    if (!carried) for (const k in trace) headers[k] = trace[k] as string;
    if (options.headers) for (const k in options.headers) headers[k] = options.headers[k] as string;
    headers[HEADERS.eventId] = e.envelope.eventId;
    headers[HEADERS.eventType] = e.eventType;
    headers[HEADERS.entityType] = e.entityType;
    headers[HEADERS.schemaId] = String(schemaId);
    if (carried) carriedTrace.set(headers, carried);
    return {
      topic: e.topic,
      message: { key: options.entityId, value: buffer, timestamp: String(e.envelope.occurredAt), headers },
      event: {
        eventId: e.envelope.eventId,
        eventType: e.eventType,
        entityId: options.entityId,
        topic: e.topic,
        schemaId,
      },
    };
  }

  /** Publishes one event and resolves once the broker acknowledged it (acks=all). */
  async publish<N extends EventName<Types>>(
    type: N | string,
    data: EventData<Types, N>,
    options: PublishOptions,
  ): Promise<PublishedRecord> {
    const name = this.catalog.resolveEventName(type);
    return inSpan(
      `${name} publish`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          [ATTR.system]: 'kafka',
          [ATTR.eventType]: name,
          [ATTR.entityId]: options?.entityId ?? '',
        },
      },
      async (span) => {
        const prepared = await this.prepare(type, data, options);
        span.setAttributes({
          [ATTR.eventId]: prepared.event.eventId,
          [ATTR.topic]: prepared.topic,
        });
        const ack = await this.queue.send(
          () => this.connect(),
          prepared.topic,
          prepared.message,
          `publishing ${prepared.event.eventType} to ${prepared.topic}`,
        );
        return { ...prepared.event, ...ack };
      },
    );
  }

  /**
   * Publishes many events in one batch. Every event is validated and encoded first: if any is invalid,
   * none is sent. Resolves once the broker acknowledged all of them.
   */
  publishMany(events: PublishItem<Types>[]): Promise<PublishedEvent[]> {
    // One publishMany is one operation, one span: its events carry its context, unless given their own
    // (the outbox relay gives each decision event its decision's): the span links to those.
    const links = events.flatMap((e) => {
      const link = linkFrom(e.options?.headers);
      return link ? [link] : [];
    });
    return inSpan(
      'publish batch',
      {
        kind: SpanKind.PRODUCER,
        links: links.slice(0, 128),
        attributes: { [ATTR.system]: 'kafka', 'messaging.batch.message_count': events.length },
      },
      () => this.sendMany(events),
    );
  }

  private async sendMany(events: PublishItem<Types>[]): Promise<PublishedEvent[]> {
    const prepared: Prepared[] = [];
    const trace = injectTrace({}); // every event of the batch carries the batch's span (unless given its own)
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as PublishItem<Types>;
      try {
        const p = this.prepareWith(e.type, e.data, e.options, trace);
        prepared.push(p instanceof Promise ? await p : p);
      } catch (error) {
        if (error instanceof AccordError) {
          error.message = `event ${i}: ${error.message}`;
        }
        throw error;
      }
    }
    if (prepared.length === 0) return [];
    const producer = await this.connect();
    let sent = 0;
    for (const chunk of requestChunks(prepared, this.maxRequestBytes)) {
      try {
        await producer.sendBatch({
          acks: -1,
          topicMessages: byTopic(chunk),
        });
      } catch (error) {
        const cause = kafkaFailure(`publishing ${prepared.length} events`, error);
        if (sent === 0 && chunk.length === prepared.length) throw cause;
        // A request failed after its retries: the ones before it were acknowledged, those after it not sent;
        // the idempotent producer never wrote any twice, but the failed request itself may be partly written.
        throw new PublishIncompleteError(
          sent,
          prepared.length,
          `${cause.message} (${sent} of ${prepared.length} acknowledged in order before the failure; the next ${chunk.length} may be partly written; none after them was sent)`,
          cause,
        );
      }
      sent += chunk.length;
    }
    return prepared.map((p) => p.event);
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await producer?.disconnect();
  }
}

export { kafkaFailure, requestChunks } from './produce';
