import { AccordError } from '../errors';
import type { SqlPool } from '../infra/sql';

export interface HistoryQuery {
  entityType: string;
  entityId: string;
  /** Inclusive. */
  since?: Date | string;
  /** Exclusive. */
  until?: Date | string;
  /** Event types (full or short names, e.g. OrderPlaced). */
  types?: string[];
  /** At most this many: the most recent ones. Default 1000, at most 100000. */
  limit?: number;
}

export interface HistoryEvent {
  eventId: string;
  eventType: string;
  entityType: string;
  entityId: string;
  occurredAt: Date;
  producer: string;
  causationId: string | null;
  correlationId: string | null;
  contractVersions: string[];
  topic: string;
  partition: number;
  offset: string;
  schemaId: number;
  /** The event's own fields (everything but the envelope), decoded. */
  payload: Record<string, unknown>;
}

function time(name: string, value: Date | string | undefined): Date | null {
  if (value === undefined) return null;
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new AccordError('EVENT_INVALID', `${name} is not a valid time: "${String(value)}" (use ISO 8601)`);
  return d;
}

/**
 * An entity's events from the archive, oldest first (the most recent `limit` of them). Same entity ⇒
 * same partition ⇒ Kafka order, which the (occurred_at, partition, offset) ordering preserves.
 */
export async function history(pool: SqlPool, query: HistoryQuery): Promise<HistoryEvent[]> {
  if (!query.entityType || !query.entityId)
    throw new AccordError('EVENT_INVALID', 'history needs entityType and entityId');
  const limit = query.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new AccordError(
      'EVENT_INVALID',
      `limit must be an integer from 1 to 100000, got ${String(query.limit)}`,
    );
  }
  const types = query.types?.length ? query.types : null;
  const { rows } = await pool.query<HistoryEvent>(
    `select * from (
       select event_id as "eventId", event_type as "eventType", entity_type as "entityType", entity_id as "entityId",
              occurred_at as "occurredAt", producer, causation_id as "causationId", correlation_id as "correlationId",
              contract_versions as "contractVersions", topic, partition, kafka_offset::text as "offset",
              schema_id as "schemaId", payload
         from event_archive
        where entity_type = $1 and entity_id = $2
          and ($3::timestamptz is null or occurred_at >= $3)
          and ($4::timestamptz is null or occurred_at < $4)
          and ($5::text[] is null or event_type = any($5) or split_part(event_type, '.', 3) = any($5))
        order by occurred_at desc, partition desc, kafka_offset desc
        limit $6) newest
      order by "occurredAt", partition, "offset"::bigint`,
    [query.entityType, query.entityId, time('since', query.since), time('until', query.until), types, limit],
  );
  return rows;
}
