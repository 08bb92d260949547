/**
 * A replay of a running pipeline races its commits: the checkpoint the plan read may have moved on by the
 * time the plan is carried out. The replay must then resume from where the pipeline got to, re-processing
 * up to there: resuming from the planned position hands the events between the two to the live path a
 * second time, after the replay recomputed what they touched (a feature view skips them by its watermark,
 * and they are lost from it). Found while building the feature store's rebuild (rebuild.ts).
 */
import { resolve } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { CheckpointStore, createPgPool, EventPublisher, resolveConfig } from '@accord/sdk';
import { migrate, Ops } from '@accord/sdk/ops';
import { TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';

jest.setTimeout(60000);

const config = resolveConfig();
const ctx = new TestContext(config);
const schema = uniqueName('t_schema', '_');
let pool: Pool;
let ops: Ops;

beforeAll(async () => {
  await migrate(config.postgres.url, resolve(__dirname, '../../../../infra/postgres/migrations'), { schema });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 4 });
  const url = new URL(config.postgres.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  ops = await Ops.connect(resolveConfig({ databaseUrl: url.toString() }));
});
afterAll(async () => {
  await ops?.close();
  await pool?.end();
  await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  await ctx.cleanup();
});

test('a replay planned before a commit of the running pipeline resumes from that commit, and re-processes up to it', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'test',
    autoRegister: true,
  });
  await publisher.publishMany(
    Array.from({ length: 10 }, (_, i) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: i, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic },
    })),
  );
  await publisher.close();
  const group = uniqueName('t-race');
  await pool.query(
    `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset, generation)
     values ($1, $1, $2, 0, '5', 5, 3)`,
    [group, topic],
  );
  const plan = await ops.planReplay(group, { kind: 'earliest' });
  expect(plan.partitions.map((p) => [p.from, p.to, p.until, p.resume])).toEqual([['5', '0', '5', '5']]);
  // The running pipeline commits 5..7 meanwhile (its epoch is still the plan's generation).
  const store = new CheckpointStore(pool);
  expect(await store.advance(pool, { group, topic, partition: 0, epoch: 3 }, 8n, 'offset', '8')).toBe(true);

  await ops.executeReplay(plan, 'test');
  const [row] = await store.list(group);
  // Re-processes 0..7 as a replay, then goes on live from 8: 5..7 are neither skipped nor handed to the
  // live path twice. Without the fix: replayResume 5.
  expect({ offset: row?.kafkaOffset, resume: row?.replayResume, until: row?.replayUntil }).toEqual({
    offset: '0',
    resume: '8',
    until: null,
  });
});

test('a member of the group that does not write its positions when asked is counted in the plan, not passed over in silence', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = uniqueName('t-unflushed');
  await new CheckpointStore(pool).seed(group, group, [{ topic, partition: 0, offset: '0' }]);
  // A plain kafkajs consumer in the group: no Accord pipeline, so nobody answers the flush request.
  const leave = await ctx.plainMember(group, topic);
  try {
    const plan = await ops.planReplay(group, { kind: 'earliest' });
    expect({ running: plan.running, unflushed: plan.unflushed }).toEqual({ running: true, unflushed: 1 });
  } finally {
    await leave();
  }
  const idle = await ops.planReplay(group, { kind: 'earliest' });
  expect(idle.unflushed).toBe(0);
});
