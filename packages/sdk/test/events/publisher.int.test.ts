/**
 * The producer on the real broker: validation before anything is sent, per-entity order across a
 * 6-partition topic, the headers every event carries, and failures mapped to clear, classified errors.
 */

import { referenceCatalog } from '@accord/reference';
import { EventPublisher, resolveConfig } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const config = resolveConfig();
const ctx = new TestContext(config);
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test-agent',
  autoRegister: true,
});
afterAll(async () => {
  await publisher.close();
  await ctx.cleanup();
});

const discount = (percent: number) => ({ orderId: 'o', percent, approvedBy: 'pricing-agent' });

async function highWatermarks(topic: string): Promise<number> {
  const offsets = await (await ctx.kafkaAdmin()).fetchTopicOffsets(topic);
  return offsets.reduce((sum, o) => sum + Number(o.high), 0);
}

test('invalid events are refused with a clear error and nothing is sent', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  await expect(
    publisher.publish('accord.commerce.DiscountApproved', discount(5), { entityId: '', topic }),
  ).rejects.toMatchObject({
    code: 'EVENT_INVALID',
    message: expect.stringMatching(/^entityId is required for accord\.commerce\.DiscountApproved/),
  });
  await expect(
    publisher.publish('accord.commerce.NoSuchThing', discount(5), { entityId: 'o-1', topic }),
  ).rejects.toMatchObject({
    code: 'EVENT_TYPE_UNKNOWN',
    message: expect.stringMatching(/^unknown event type "accord\.commerce\.NoSuchThing" \(known: /),
  });
  await expect(
    publisher.publish('DiscountApproved', { orderId: 'o', percent: 'lots', approvedBy: 'x' } as never, {
      entityId: 'o-1',
      topic,
    }),
  ).rejects.toMatchObject({
    code: 'SCHEMA_VALIDATION_FAILED',
    message: expect.stringContaining('percent: expected "double", got "lots"'),
  });
  // One bad event in a batch: none of the batch is sent.
  await expect(
    publisher.publishMany([
      { type: 'DiscountApproved', data: discount(1), options: { entityId: 'o-1', topic } },
      { type: 'DiscountApproved', data: { orderId: 'o' } as never, options: { entityId: 'o-2', topic } },
    ]),
  ).rejects.toMatchObject({
    code: 'SCHEMA_VALIDATION_FAILED',
    message: expect.stringMatching(/^event 1: invalid /),
  });
  expect(await highWatermarks(topic)).toBe(0);
});

test('10,000 events over 200 entities on 6 partitions keep per-entity order, with their headers', async () => {
  const topic = await ctx.createTopic({ partitions: 6 });
  const entities = Array.from({ length: 200 }, (_, i) => `order-${i}`);
  const total = 10_000;
  const batchSize = 500;
  for (let start = 0; start < total; start += batchSize) {
    const batch = Array.from({ length: batchSize }, (_, j) => {
      const n = start + j;
      const entityId = entities[n % entities.length]!;
      // percent carries the per-entity sequence number
      return {
        type: 'DiscountApproved',
        data: discount(Math.floor(n / entities.length)),
        options: { entityId, topic },
      };
    });
    const sent = await publisher.publishMany(batch);
    expect(sent).toHaveLength(batchSize);
  }
  expect(await highWatermarks(topic)).toBe(total);

  const seen = new Map<string, number[]>();
  const partitionsOf = new Map<string, Set<number>>();
  let count = 0;
  let firstHeaders: Record<string, string> | undefined;
  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const key = message.key!.toString();
      const decoded = await publisher.serde.decode(message.value!);
      const list = seen.get(key) ?? [];
      list.push(decoded.value.percent as number);
      seen.set(key, list);
      partitionsOf.set(key, (partitionsOf.get(key) ?? new Set()).add(partition));
      firstHeaders ??= Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
      );
      count++;
    },
  });
  await eventually(() => count >= total, { timeoutMs: 60000, what: `${total} events` });
  await consumer.disconnect();

  expect(count).toBe(total);
  expect(seen.size).toBe(200);
  for (const [, sequence] of seen) expect(sequence).toEqual(Array.from({ length: 50 }, (_, i) => i));
  for (const [, partitions] of partitionsOf) expect(partitions.size).toBe(1);
  expect(firstHeaders).toEqual({
    'accord-event-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    'accord-event-type': 'accord.commerce.DiscountApproved',
    'accord-entity-type': 'order',
    'accord-schema-id': expect.stringMatching(/^\d+$/),
    // No traceparent: OpenTelemetry is not started here (telemetry/trace.int.test.ts covers it).
  });
});

test('publish resolves with the acknowledged position, and fills the envelope', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const first = await publisher.publish('DiscountApproved', discount(10), {
    entityId: 'o-9',
    topic,
    correlationId: 'flow-9',
  });
  const second = await publisher.publish('DiscountApproved', discount(11), { entityId: 'o-9', topic });
  expect(first).toMatchObject({
    topic,
    partition: 0,
    offset: '0',
    entityId: 'o-9',
    eventType: 'accord.commerce.DiscountApproved',
  });
  expect(second.offset).toBe('1');
  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  const values: Record<string, unknown>[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) =>
      void values.push((await publisher.serde.decode(message.value!)).value),
  });
  await eventually(() => values.length === 2, { what: 'two events' });
  await consumer.disconnect();
  expect(values[0]?.envelope).toEqual({
    eventId: first.eventId,
    eventType: 'accord.commerce.DiscountApproved',
    entityType: 'order',
    entityId: 'o-9',
    occurredAt: expect.any(Number),
    producer: 'test-agent',
    causationId: null,
    correlationId: 'flow-9',
    contractVersions: [],
  });
});

test('concurrent publishes leave together, each told its own partition and offset, per-entity order kept', async () => {
  // 600 publishes at once over two topics: they go out in a few requests (send-queue.ts), and each must
  // still resolve with exactly where its record is.
  const topics = [await ctx.createTopic({ partitions: 3 }), await ctx.createTopic({ partitions: 2 })];
  const sent = await Promise.all(
    Array.from({ length: 600 }, (_, n) =>
      publisher.publish('DiscountApproved', discount(Math.floor(n / 20)), {
        entityId: `o-${n % 20}`,
        topic: topics[n % 2]!,
      }),
    ),
  );
  const at = new Map(sent.map((s) => [`${s.topic}/${s.partition}/${s.offset}`, s.eventId]));
  expect(at.size).toBe(600); // no two told the same position
  const read = new Map<string, string>();
  const order = new Map<string, number[]>();
  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        read.set(`${topic}/${partition}/${message.offset}`, String(message.headers?.['accord-event-id']));
        const { value } = await publisher.serde.decode(message.value!);
        const key = `${topic}/${String(message.key)}`;
        order.set(key, [...(order.get(key) ?? []), value.percent as number]);
      },
    });
    await eventually(() => read.size === 600, { what: () => `600 records read, got ${read.size}` });
  } finally {
    await consumer.disconnect();
  }
  expect(read).toEqual(at);
  // Each entity's events in the order they were published (the publish calls' order).
  for (const [key, percents] of order)
    expect({ key, percents }).toEqual({ key, percents: [...percents].sort((a, b) => a - b) });
});

test('a topic that does not exist is a clear error', async () => {
  const topic = uniqueName('t-missing');
  await expect(
    publisher.publish('DiscountApproved', discount(1), { entityId: 'o-1', topic }),
  ).rejects.toMatchObject({
    code: 'TOPIC_NOT_FOUND',
    message: expect.stringContaining('declare it in infra/kafka/topics.json'),
  });
});

test('an unreachable broker is a retriable error and nothing is reported as sent', async () => {
  const down = resolveConfig({ kafkaBrokers: ['127.0.0.1:1'] });
  const offline = new EventPublisher({
    catalog: referenceCatalog,
    config: down,
    producer: 'test-agent',
    serde: publisher.serde,
  });
  try {
    await expect(
      offline.publish('DiscountApproved', discount(1), { entityId: 'o-1', topic: 'any' }),
    ).rejects.toMatchObject({
      code: 'KAFKA_UNAVAILABLE',
      retriable: true,
    });
  } finally {
    await offline.close();
  }
});

test('a topic that does not exist fails its own concurrent publishes only, never those of another topic', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const missing = uniqueName('t-missing');
  // Interleaved, all at once: they wait for the same requests, but each request carries one topic.
  const outcomes = await Promise.allSettled(
    Array.from({ length: 40 }, (_, n) =>
      publisher.publish('DiscountApproved', discount(n), {
        entityId: `o-${n}`,
        topic: n % 4 === 3 ? missing : topic,
      }),
    ),
  );
  const failed = outcomes.flatMap((o, n) => (o.status === 'rejected' ? [n] : []));
  expect(failed).toEqual(Array.from({ length: 10 }, (_, i) => 4 * i + 3));
  for (const n of failed)
    expect((outcomes[n] as PromiseRejectedResult).reason).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
  expect(await highWatermarks(topic)).toBe(30);
});

test('a topic deleted after the publisher wrote to it fails its own publishes only; every other topic goes on (kafkajs #1622)', async () => {
  const own = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'test-agent',
    serde: publisher.serde,
  });
  try {
    const kept = await ctx.createTopic({ partitions: 2 });
    const doomed = uniqueName('t-doomed');
    const admin = await ctx.kafkaAdmin();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: doomed, numPartitions: 1 }] });
    for (const topic of [kept, doomed])
      await own.publish('DiscountApproved', discount(1), { entityId: 'o-1', topic });
    await admin.deleteTopics({ topics: [doomed] });
    await eventually(async () => ((await admin.listTopics()).includes(doomed) ? undefined : true), {
      what: 'the topic gone',
    });
    // Unpatched kafkajs kept the deleted topic in every metadata refresh, and the broker fails a refresh
    // that names an unknown topic: the next refresh (a topic new to the producer, a leader move, metadata
    // older than metadataMaxAge) failed, so every send that needed one, on any topic.
    const fresh = await ctx.createTopic({ partitions: 2 });
    await expect(
      own.publish('DiscountApproved', discount(2), { entityId: 'o-2', topic: fresh }),
    ).resolves.toMatchObject({ topic: fresh });
    await expect(
      own.publish('DiscountApproved', discount(3), { entityId: 'o-3', topic: doomed }),
    ).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    await expect(
      own.publish('DiscountApproved', discount(4), { entityId: 'o-4', topic: kept }),
    ).resolves.toMatchObject({ topic: kept });
    expect(await highWatermarks(fresh)).toBe(1);
    expect(await highWatermarks(kept)).toBe(2);
  } finally {
    await own.close();
  }
});
