/**
 * The pipeline runtime on the real broker and Postgres: bad records go to the dead-letter topic with
 * their reason while the partition keeps moving; handler errors are retried or dead-lettered by type;
 * transactional effects commit with the checkpoint; a zombie cannot move a checkpoint after losing it.
 */
import { resolve } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  AvroSerde,
  CheckpointStore,
  createPgPool,
  createPipeline,
  EventPublisher,
  type Pipeline,
  type PipelineEvent,
  RetryableError,
  resolveConfig,
  TerminalError,
  UnavailableError,
} from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
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
const serde = new AvroSerde({
  catalog: referenceCatalog,
  registryUrl: config.schemaRegistry.url,
  autoRegister: true,
});
const pipelines: Pipeline[] = [];

beforeAll(async () => {
  await migrate(config.postgres.url, resolve(__dirname, '../../../../infra/postgres/migrations'), { schema });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 8 });
});
afterAll(async () => {
  for (const p of pipelines) await p.stop();
  await publisher.close();
  await pool.end();
  await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  await ctx.cleanup();
});

function pipeline(options: Omit<Parameters<typeof createPipeline>[0], 'config' | 'pool'>): Pipeline {
  const p = createPipeline({ config, pool, retryBackoffMs: 10, ...options });
  pipelines.push(p);
  return p;
}

const event = (n: number) => ({ orderId: `o-${n}`, percent: n, approvedBy: 'pricing' });

async function readDeadLetters(group: string, expected: number) {
  const topic = `${group}.dlq`;
  const records: { value: Record<string, unknown>; headers: Record<string, string> }[] = [];
  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
      );
      records.push({ value: (await serde.decode(message.value!)).value, headers });
    },
  });
  await eventually(() => records.length >= expected, { what: `${expected} dead letters` });
  await consumer.disconnect();
  ctx.onCleanup(async () => {
    await (await ctx.kafkaAdmin()).deleteTopics({ topics: [topic] });
  });
  return records;
}

test('undecodable records go to the dead-letter topic with their reason, and the partition keeps moving', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const good = async (n: number) =>
    publisher.publish('DiscountApproved', event(n), { entityId: 'o-1', topic });
  const { schemaId } = await serde.encode('accord.commerce.DiscountApproved', {
    envelope: {
      eventId: 'x',
      eventType: 'accord.commerce.DiscountApproved',
      entityType: 'order',
      entityId: 'o-1',
      occurredAt: 1,
      producer: 'p',
    },
    ...event(0),
  });
  const raw = ctx.kafka.producer();
  await raw.connect();
  await good(1);
  await raw.send({ topic, messages: [{ key: 'o-1', value: Buffer.from('{"json": "not avro"}') }] }); // wrong magic byte
  await good(2);
  await raw.send({ topic, messages: [{ key: 'o-1', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0x00, 1]) }] }); // unknown id
  await good(3);
  const garbage = Buffer.alloc(8, 0xff);
  garbage[0] = 0;
  garbage.writeUInt32BE(schemaId, 1);
  await raw.send({ topic, messages: [{ key: 'o-1', value: garbage }] }); // body does not decode
  await good(4);
  await raw.disconnect();

  const seen: number[] = [];
  const p = pipeline({
    name: group,
    topics: [topic],
    handler: (e: PipelineEvent) => void seen.push(e.value?.percent as number),
  });
  await p.start();
  await eventually(() => seen.length === 4 && p.stats.deadLettered === 3, {
    what: '4 events and 3 dead letters',
  });
  expect(seen).toEqual([1, 2, 3, 4]);

  const letters = await readDeadLetters(group, 3);
  expect(letters.map((l) => [l.value.offset, l.value.errorCode])).toEqual([
    [1, 'WIRE_FORMAT_INVALID'],
    [3, 'SCHEMA_NOT_FOUND'],
    [5, 'DECODE_FAILED'],
  ]);
  expect(letters[0]?.value).toMatchObject({
    pipeline: group,
    consumerGroup: group,
    topic,
    partition: 0,
    attempts: 1,
    errorMessage: expect.stringContaining('expected magic byte 0x00'),
  });
  expect(Buffer.from(letters[0]?.value.value as Buffer).toString()).toBe('{"json": "not avro"}');
  expect(letters[0]?.headers['accord-dlq-source']).toBe(`${topic}/0/1`);
  await eventually(async () => (await new CheckpointStore(pool).list(group))[0]?.kafkaOffset === '7', {
    what: 'checkpoint at 7, after the last record',
  });
});

test('handler errors: retriable ones are retried, terminal and programmer errors dead-lettered at once, an outage never', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  for (const n of [1, 2, 3, 4, 5])
    await publisher.publish('DiscountApproved', event(n), { entityId: 'o-1', topic });
  const attempts = new Map<number, number>();
  const done: number[] = [];
  const p = pipeline({
    name: group,
    topics: [topic],
    maxAttempts: 3,
    handler: (e) => {
      const n = e.value?.percent as number;
      const a = (attempts.get(n) ?? 0) + 1;
      attempts.set(n, a);
      if (n === 1 && a < 3) throw new RetryableError('flaky downstream'); // succeeds on the third try
      if (n === 2) throw new TerminalError('order o-2 cannot be priced');
      if (n === 3) throw new TypeError("Cannot read properties of undefined (reading 'sku')");
      // Redis down for longer than maxAttempts: not the event's fault, retried until it is back.
      if (n === 5 && a < 7) throw new UnavailableError('REDIS_UNAVAILABLE', 'Redis is reconnecting');
      done.push(n);
    },
  });
  await p.start();
  await eventually(() => done.includes(5), { what: 'event 5' });
  expect(done).toEqual([1, 4, 5]);
  expect(Object.fromEntries(attempts)).toEqual({ 1: 3, 2: 1, 3: 1, 4: 1, 5: 7 });
  const letters = await readDeadLetters(group, 2);
  expect(letters.map((l) => [l.value.offset, l.value.errorCode, l.value.attempts])).toEqual([
    [1, 'PIPELINE_HANDLER_FAILED', 1],
    [2, 'TypeError', 1],
  ]);
});

test('transactional: effects and checkpoint commit together; a failed event rolls back only its own writes', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  await pool.query('create table if not exists t_effects (n int primary key)');
  for (let n = 1; n <= 20; n++)
    await publisher.publish('DiscountApproved', event(n), { entityId: `o-${n % 4}`, topic });
  const p = pipeline({
    name: group,
    topics: [topic],
    mode: 'transactional',
    handler: async (e, c) => {
      const n = e.value?.percent as number;
      await c.tx!.query('insert into t_effects (n) values ($1)', [n]);
      if (n === 7) throw new TerminalError('seven is refused after writing'); // its insert must not survive
    },
  });
  await p.start();
  await eventually(
    async () => {
      const rows = await new CheckpointStore(pool).list(group);
      return rows.reduce((sum, r) => sum + Number(r.kafkaOffset), 0) === 20;
    },
    { what: 'checkpoints covering all 20 events' },
  );
  const { rows } = await pool.query<{ n: number }>('select n from t_effects order by n');
  expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1).filter((n) => n !== 7));
  // Kafka's committed offsets mirror the table.
  const [committed] = await (await ctx.kafkaAdmin()).fetchOffsets({ groupId: group, topics: [topic] });
  const table = await new CheckpointStore(pool).list(group);
  for (const r of table)
    expect(committed?.partitions.find((x) => x.partition === r.partition)?.offset).toBe(r.kafkaOffset);
});

test('a zombie that lost its partition cannot move the checkpoint', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const store = new CheckpointStore(pool);
  const zombie = await store.claim(group, group, topic, 0, '0', { clusterId: 'c', topicId: null });
  const successor = await store.claim(group, group, topic, 0, '0', { clusterId: 'c', topicId: null });
  expect(successor.epoch).toBe(zombie.epoch + 1);
  const position = { group, topic, partition: 0 };
  expect(await store.advance(pool, { ...position, epoch: zombie.epoch }, 50n, 'offset', '49')).toBe(false);
  expect(await store.advance(pool, { ...position, epoch: successor.epoch }, 10n, 'offset', '9')).toBe(true);
  expect(await store.advance(pool, { ...position, epoch: zombie.epoch }, 5n, 'offset', '4')).toBe(false);
  expect((await store.list(group))[0]).toMatchObject({
    kafkaOffset: '10',
    checkpointValue: '9',
    generation: successor.epoch,
  });
});

test('invalid options are refused at construction, naming the option', () => {
  expect(() => createPipeline({ name: 'bad name!', topics: ['t'], handler: () => {} })).toThrow(
    /option name: must be 1-200 characters/,
  );
  expect(() => createPipeline({ name: 'ok', topics: [], handler: () => {} })).toThrow(
    /option topics: must be a non-empty array/,
  );
  expect(() =>
    createPipeline({ name: 'ok', topics: ['t'], handler: () => {}, mode: 'sometimes' as never }),
  ).toThrow(
    /option mode: Invalid option: expected one of "at-least-once"\|"transactional" \(got "sometimes"\)/,
  );
  expect(() => createPipeline({ name: 'ok', topics: ['t'], handler: () => {}, chunkSize: 0 })).toThrow(
    /option chunkSize: must be a positive integer \(got 0\)/,
  );
});

test('keyConcurrency: entities of one partition at once, each in order, the checkpoint after them all', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  // 4 entities × 10 events, interleaved on one partition.
  for (let n = 0; n < 40; n++)
    await publisher.publish('DiscountApproved', event(n), { entityId: `o-${n % 4}`, topic });
  const order = new Map<string, number[]>();
  let running = 0;
  let most = 0;
  const p = pipeline({
    name: group,
    topics: [topic],
    keyConcurrency: 8,
    handler: async (e) => {
      running++;
      most = Math.max(most, running);
      // A handler that waits (as an agent waits for its decision): the next entity's event starts meanwhile.
      await new Promise((r) => setTimeout(r, 5));
      order.set(String(e.key), [...(order.get(String(e.key)) ?? []), e.value?.percent as number]);
      running--;
    },
  });
  await p.start();
  await eventually(async () => (await new CheckpointStore(pool).list(group))[0]?.kafkaOffset === '40', {
    what: 'checkpoint at 40',
  });
  expect(most).toBeGreaterThan(1); // one at a time would be 1
  expect(most).toBeLessThanOrEqual(4); // never two of one entity at once: 4 entities
  for (let k = 0; k < 4; k++)
    expect(order.get(`o-${k}`)).toEqual(Array.from({ length: 10 }, (_, i) => k + 4 * i));
});
