import {
  type EventEnvelope,
  eventsTopicPattern,
  type Pipeline,
  type PipelineEvent,
  type SomeAccord,
  type SqlClient,
  TerminalError,
} from '@accord/sdk';

export const ARCHIVE_GROUP = 'accord-archive';

/** Inserts one event; a redelivered event (same id and time) is dropped by the primary key. */
export async function archiveEvent(tx: SqlClient, event: PipelineEvent): Promise<void> {
  const value = event.value;
  const envelope = value?.envelope as EventEnvelope | undefined;
  if (!value || !envelope || typeof envelope.eventId !== 'string') {
    throw new TerminalError(
      `record at ${event.topic}/${event.partition}/${event.offset} is not an Accord event: it has no envelope`,
    );
  }
  const { envelope: _envelope, ...payload } = value;
  await tx.query(
    `insert into event_archive (event_id, event_type, entity_type, entity_id, occurred_at, producer, causation_id,
       correlation_id, contract_versions, topic, partition, kafka_offset, schema_id, payload)
     values ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), $6, $7, $8, $9, $10, $11, $12, $13, $14)
     on conflict do nothing`,
    [
      envelope.eventId,
      envelope.eventType,
      envelope.entityType,
      envelope.entityId,
      envelope.occurredAt,
      envelope.producer,
      envelope.causationId ?? null,
      envelope.correlationId ?? null,
      envelope.contractVersions ?? [],
      event.topic,
      event.partition,
      event.offset,
      event.schemaId ?? 0,
      JSON.stringify(payload),
    ],
  );
}

export interface ArchiveOptions {
  group?: string;
  topics?: RegExp | string[];
}

/** The archive pipeline, made from the service's context: transactional, so each row and the checkpoint commit together. */
export function createArchivePipeline(accord: SomeAccord, { group, topics }: ArchiveOptions = {}): Pipeline {
  return accord.pipeline({
    name: group ?? ARCHIVE_GROUP,
    group: group ?? ARCHIVE_GROUP,
    topics: topics ?? eventsTopicPattern(),
    mode: 'transactional',
    from: 'earliest',
    handler: async (event, ctx) => {
      if (!ctx.tx) throw new TerminalError('the archive needs a transaction');
      await archiveEvent(ctx.tx, event);
    },
  });
}
