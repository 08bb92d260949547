import type { SomePublisher } from '../events/publisher';
import type { SqlPool } from '../infra/sql';
import { defaultLogger, type Logger } from '../telemetry/log';
import { table } from './types';

/**
 * Publishes the outbox's decision events to the entity's events topic (at least once; consumers dedupe by
 * event id, which is the decision id). Returns how many it published.
 */
export async function relayOutbox(
  pool: SqlPool,
  publisher: SomePublisher,
  entityType: string,
  options: { topic?: string; limit?: number } = {},
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{
      id: string;
      decision_id: string;
      entity_id: string;
      payload: Record<string, unknown>;
      created_at: Date;
      traceparent: string | null;
    }>(
      `select id, decision_id, entity_id, payload, created_at, traceparent from ${table(entityType, 'outbox')}
        where published_at is null order by id limit $1 for update skip locked`,
      [options.limit ?? 500],
    );
    if (rows.length === 0) {
      await client.query('commit');
      return 0;
    }
    const topic = options.topic ?? publisher.catalog.eventsTopic(entityType);
    await publisher.publishMany(
      rows.map((r) => {
        const { causationId, ...data } = r.payload as { causationId: string } & Record<string, unknown>;
        return {
          type: 'accord.platform.Decision',
          data: data as never,
          options: {
            entityId: r.entity_id,
            entityType,
            topic,
            eventId: r.decision_id,
            causationId,
            occurredAt: r.created_at,
            ...(r.traceparent ? { headers: { traceparent: r.traceparent } } : {}),
          },
        };
      }),
    );
    await client.query(
      `update ${table(entityType, 'outbox')} set published_at = now() where id = any($1::bigint[])`,
      [rows.map((r) => r.id)],
    );
    await client.query('commit');
    return rows.length;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Runs relayOutbox every `intervalMs` (and at once) until stopped. A failure is logged and the loop goes on. */
export function startOutboxRelay(
  pool: SqlPool,
  publisher: SomePublisher,
  entityType: string,
  options: { topic?: string; intervalMs?: number; logger?: Logger } = {},
): { stop: () => Promise<void>; published: () => number } {
  let stopped = false;
  let published = 0;
  const log = (options.logger ?? defaultLogger()).child({ outbox: entityType });
  const loop = (async () => {
    while (!stopped) {
      try {
        const n = await relayOutbox(
          pool,
          publisher,
          entityType,
          options.topic ? { topic: options.topic } : {},
        );
        published += n;
        if (n > 0) continue;
      } catch (error) {
        log.error({ error }, 'relaying the outbox failed; retrying');
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
    published: () => published,
  };
}
