/**
 * Deferred checkpoints (option checkpointEveryMs, at-least-once) on the real broker and Postgres: positions
 * are written on the interval, all partitions in one statement, not once per batch; what is pending is
 * written when the pipeline stops (and mirrored to Kafka); a refused write (another epoch) is never
 * counted as written; the option is refused where it cannot apply.
 */
import { resolve } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  AccordError,
  CheckpointStore,
  createPgPool,
  createPipeline,
  EventPublisher,
  type Pipeline,
  resolveConfig,
  Telemetry,
} from '@accord/sdk';
import { migrate, Ops } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';

jest.setTimeout(120000);

const config = resolveConfig();
const ctx = new TestContext(config);
const schema = uniqueName('t_schema', '_');
let pool: Pool;
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
const pipelines: Pipeline[] = [];
let ops: Ops;

beforeAll(async () => {
  await migrate(config.postgres.url, resolve(__dirname, '../../../../infra/postgres/migrations'), { schema });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 8 });
  const url = new URL(config.postgres.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  ops = await Ops.connect(resolveConfig({ databaseUrl: url.toString() }));
});
afterAll(async () => {
  for (const p of pipelines) await p.stop();
  await ops.close();
  await publisher.close();
  await pool.end();
  await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  await ctx.cleanup();
});

const event = (n: number) => ({ orderId: `o-${n}`, percent: n, approvedBy: 'pricing' });
const publish = (topic: string, n: number) =>
  publisher.publish('DiscountApproved', event(n), { entityId: `o-${n}`, topic });

/** The table's positions summed over partitions: the events the checkpoints cover. */
async function covered(group: string): Promise<number> {
  const rows = await new CheckpointStore(pool).list(group);
  return rows.reduce((sum, r) => sum + Number(r.kafkaOffset), 0);
}

test('positions are written on the interval, not per batch, and reach the log end while idle', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const group = ctx.group();
  const telemetry = new Telemetry();
  let written = 0;
  telemetry.on((e) => {
    if (e.type === 'checkpointed' && e.group === group) written++;
  });
  const p = createPipeline({
    name: group,
    topics: [topic],
    config,
    pool,
    telemetry,
    checkpointEveryMs: 400,
    handler: () => {},
  });
  pipelines.push(p);
  await p.start();
  // One event at a time, each handled before the next is sent: a batch each.
  for (let n = 1; n <= 40; n++) {
    await publish(topic, n);
    await eventually(() => p.stats.processed >= n, { intervalMs: 5, what: `event ${n} handled` });
  }
  expect(p.stats.batches).toBeGreaterThanOrEqual(40);
  // The last positions are written by the timer with no batch after them.
  await eventually(async () => (await covered(group)) === 40, { what: 'checkpoints covering all 40 events' });
  // Per batch this would be 40 (one `checkpointed` per partition batch); on a 400 ms timer, a few per tick.
  expect(written).toBeLessThan(20);
  expect(written).toBeGreaterThanOrEqual(3); // every partition written at least once
  // Kafka's committed offsets mirror the table.
  const [committed] = await (await ctx.kafkaAdmin()).fetchOffsets({ groupId: group, topics: [topic] });
  for (const r of await new CheckpointStore(pool).list(group))
    expect(committed?.partitions.find((x) => x.partition === r.partition)?.offset).toBe(r.kafkaOffset);
});

test('stop writes the pending positions and mirrors them; the next run starts after them', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  for (let n = 1; n <= 10; n++) await publish(topic, n);
  const seen: number[] = [];
  const options = {
    name: group,
    topics: [topic],
    config,
    pool,
    checkpointEveryMs: 60_000, // never on the timer within this test
    handler: (e: { value: Record<string, unknown> | null }) => void seen.push(e.value?.percent as number),
  };
  const first = createPipeline(options);
  pipelines.push(first); // stopped by afterAll if an expectation fails before its own stop (idempotent)
  await first.start();
  await eventually(() => first.stats.processed === 10, { what: '10 events handled' });
  // Handled, not yet written: the checkpoints are where the claims left them.
  expect(await covered(group)).toBe(0);
  await first.stop();
  expect(await covered(group)).toBe(10);
  const [committed] = await (await ctx.kafkaAdmin()).fetchOffsets({ groupId: group, topics: [topic] });
  const table = await new CheckpointStore(pool).list(group);
  expect(table).toHaveLength(2);
  for (const r of table)
    expect(committed?.partitions.find((x) => x.partition === r.partition)?.offset).toBe(r.kafkaOffset);

  // A second run handles only what came after.
  await publish(topic, 11);
  const second = createPipeline(options);
  pipelines.push(second);
  await second.start();
  await eventually(() => second.stats.processed === 1, { what: 'event 11 handled' });
  expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
});

test('a live replay planned while positions are still pending replays every event handled', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  for (let n = 1; n <= 6; n++) await publish(topic, n);
  const seen: { n: number; replay: boolean }[] = [];
  const p = createPipeline({
    name: group,
    topics: [topic],
    config,
    pool,
    checkpointEveryMs: 60_000, // pending for the whole test but for what a replay makes it write
    handler: (e, c) => void seen.push({ n: e.value?.percent as number, replay: c.replay }),
  });
  pipelines.push(p);
  await p.start();
  await eventually(() => p.stats.processed === 6, { what: '6 events handled' });
  expect(await covered(group)).toBe(0); // handled, not yet written
  const plan = await ops.planReplay(group, { kind: 'earliest' });
  await ops.executeReplay(plan, 'deferred checkpoints test');
  await eventually(() => seen.length >= 12, {
    what: () => `the 6 events replayed (seen ${JSON.stringify(seen)})`,
  });
  expect(
    seen
      .slice(6)
      .map((s) => s.n)
      .sort((a, b) => a - b),
  ).toEqual([1, 2, 3, 4, 5, 6]);
});

test('advanceMany moves only the rows whose epoch still holds', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  const store = new CheckpointStore(pool);
  const log = { clusterId: 'c', topicId: null };
  const a = await store.claim(group, group, topic, 0, '0', log);
  const stale = await store.claim(group, group, topic, 1, '0', log);
  await store.claim(group, group, topic, 1, '0', log); // partition 1 claimed again: `stale` lost it
  const moved = await store.advanceMany(group, [
    { topic, partition: 0, epoch: a.epoch, next: 7n, type: 'offset', value: '6' },
    { topic, partition: 1, epoch: stale.epoch, next: 9n, type: 'offset', value: '8' },
  ]);
  expect([...moved]).toEqual([`${topic}:0`]);
  const rows = await store.list(group);
  expect(rows.find((r) => r.partition === 0)?.kafkaOffset).toBe('7');
  expect(rows.find((r) => r.partition === 1)?.kafkaOffset).toBe('0');
});

test('checkpointEveryMs is refused where it cannot apply, naming the option', () => {
  const base = { name: 'x', topics: ['t'], config, pool, handler: () => {} };
  expect(() => createPipeline({ ...base, mode: 'transactional', checkpointEveryMs: 100 })).toThrow(
    /checkpointEveryMs.*at-least-once pipelines only/,
  );
  expect(() => createPipeline({ ...base, checkpointEveryMs: -1 })).toThrow(AccordError);
  expect(() => createPipeline({ ...base, checkpointEveryMs: -1 })).toThrow(/checkpointEveryMs/);
  expect(() => createPipeline({ ...base, checkpointEveryMs: 0, mode: 'transactional' })).not.toThrow();
  expect(() => createPipeline({ ...base, mode: 'transactional', keyConcurrency: 4 })).toThrow(
    /keyConcurrency.*at-least-once pipelines only/,
  );
});
