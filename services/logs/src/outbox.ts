import { inTransaction, type Logger, type PublishItem, type SomePublisher, type SqlPool } from '@accord/sdk';

/**
 * A stage's table is its outbox: rows committed with the stage's checkpoint and not yet published
 * (published_at is null) are published in the order they were written, with the row's id as the event id,
 * then marked. At least once: a crash between publish and mark publishes the rows again with the same
 * ids, and the next stage recognises them (by event id, or by the window it already applied).
 */
export interface TableOutbox<Row> {
  table: 'log_summaries' | 'log_anomalies';
  /** Columns to read, besides id. */
  columns: string;
  toItem: (row: Row) => PublishItem<never>;
}

export async function relayTable<Row extends { id: string }>(
  pool: SqlPool,
  publisher: SomePublisher,
  outbox: TableOutbox<Row>,
  limit = 500,
): Promise<number> {
  return inTransaction(pool, async (tx) => {
    const { rows } = await tx.query<Row>(
      `select id, ${outbox.columns} from ${outbox.table} where published_at is null
        order by created_at, window_start, service limit $1 for update skip locked`,
      [limit],
    );
    if (rows.length === 0) return 0;
    await publisher.publishMany(rows.map(outbox.toItem));
    await tx.query(`update ${outbox.table} set published_at = now() where id = any($1::uuid[])`, [
      rows.map((r) => r.id),
    ]);
    return rows.length;
  });
}

/** Relays every `intervalMs` (and at once) until stopped; a failure is logged and retried. */
export function startTableRelay<Row extends { id: string }>(
  pool: SqlPool,
  publisher: SomePublisher,
  outbox: TableOutbox<Row>,
  log: Logger,
  intervalMs = 200,
): { stop: () => Promise<void>; published: () => number } {
  let stopped = false;
  let published = 0;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        const n = await relayTable(pool, publisher, outbox);
        published += n;
        if (n > 0) continue;
      } catch (error) {
        log.error({ error, outbox: outbox.table }, 'relaying the outbox failed; retrying');
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, intervalMs);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      // What the last transactions wrote goes out before the process does; if it cannot, the rows stay
      // unpublished in the table and the next start relays them (said, not hidden).
      published += await relayTable(pool, publisher, outbox).catch((error: unknown) => {
        log.error(
          { error, outbox: outbox.table },
          'the last relay before stopping failed; the next start relays the rest',
        );
        return 0;
      });
    },
    published: () => published,
  };
}
