/**
 * createAccord: one context holds the configuration, the clients and the telemetry; what runs is made
 * from it with its own options only, reports through the shared seam, and is stopped by close().
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createAccord, type LifecycleEvent } from '@accord/sdk';
import { eventually, TestContext } from '@accord/testing';

jest.setTimeout(60000);

const ctx = new TestContext();
const db = ctx.database();

beforeAll(async () => {
  await db.migrate(join(__dirname, '../../../infra/postgres/migrations'));
});
afterAll(async () => {
  await ctx.cleanup();
});

test('pipelines and publishers made from one context share its clients and telemetry; close() stops them', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  const accord = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  const events: LifecycleEvent[] = [];
  accord.telemetry.on((e) => events.push(e));
  const publisher = accord.publisher({ producer: 'test', autoRegister: true });
  await publisher.publishMany(
    Array.from({ length: 10 }, (_, n) => ({
      type: 'DiscountApproved',
      data: { orderId: `o-${n}`, percent: n, approvedBy: 'pricing' },
      options: { entityId: `o-${n}`, topic },
    })),
  );
  const seen: number[] = [];
  const pipeline = accord.pipeline({
    name: group,
    topics: [topic],
    handler: (e) => {
      seen.push(e.value?.percent as number);
    },
  });
  await pipeline.start();
  await eventually(() => seen.length === 10, { what: '10 events' });
  expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // The checkpoints landed in this context's database, and the seam told each move.
  const { rows } = await accord
    .pool()
    .query<{ n: string }>(
      'select sum(kafka_offset)::text as n from pipeline_checkpoints where consumer_group = $1',
      [group],
    );
  expect(rows[0]?.n).toBe('10');
  const moved = events.filter((e) => e.type === 'checkpointed' && e.group === group);
  expect(
    moved.reduce((sum, e) => Math.max(sum, Number(e.type === 'checkpointed' ? e.offset : 0)), 0),
  ).toBeGreaterThan(0);
  expect(events.filter((e) => e.type === 'attempt.end' && e.outcome === 'ok')).toHaveLength(10);

  const pool = accord.pool();
  await accord.close();
  await accord.close(); // idempotent
  await expect(pool.query('select 1')).rejects.toThrow(/pool after calling end/i);
});
