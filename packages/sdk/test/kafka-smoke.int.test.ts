/**
 * Smoke test of every kafkajs API family Accord uses, against the real broker (Apache Kafka 4.3.1 from the
 * Maven jars). If one of these fails after a broker upgrade, the platform cannot work on that version.
 */

import { eventually, TestContext } from '@accord/testing';
import type { Consumer, EachMessagePayload, Producer } from 'kafkajs';

jest.setTimeout(60000);

const ctx = new TestContext();
const clients: (Producer | Consumer)[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.disconnect().catch(() => {});
});
afterAll(() => ctx.cleanup());

function producer(options: Parameters<typeof ctx.kafka.producer>[0] = {}): Producer {
  const p = ctx.kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...options });
  clients.push(p);
  return p;
}

function consumer(
  groupId: string,
  options: Partial<Parameters<typeof ctx.kafka.consumer>[0]> = {},
): Consumer {
  const c = ctx.kafka.consumer({ groupId, maxWaitTimeInMs: 200, ...options });
  clients.push(c);
  return c;
}

async function produce(topic: string, count: number, partitions: number, timestamp?: number): Promise<void> {
  const p = producer();
  await p.connect();
  await p.send({
    topic,
    acks: -1,
    messages: Array.from({ length: count }, (_, i) => ({
      key: `entity-${i % 10}`,
      value: `value-${i}`,
      partition: i % partitions,
      ...(timestamp === undefined ? {} : { timestamp: String(timestamp) }),
    })),
  });
  await p.disconnect();
}

/** Consumes from `topic` with `groupId` until `expected` messages arrived; returns them; leaves the group. */
async function consumeAll(groupId: string, topic: string, expected: number): Promise<EachMessagePayload[]> {
  const c = consumer(groupId);
  const seen: EachMessagePayload[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({ eachMessage: async (payload) => void seen.push(payload) });
  await eventually(() => seen.length >= expected, { what: `${expected} messages on ${topic}` });
  await c.disconnect();
  return seen;
}

test('createTopics creates a topic with the requested partitions (fetchTopicMetadata)', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const admin = await ctx.kafkaAdmin();
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  expect(metadata.topics[0]?.partitions).toHaveLength(3);
});

test('idempotent produce with acks=all is acknowledged with offsets', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const p = producer();
  await p.connect();
  const first = await p.send({ topic, acks: -1, messages: [{ key: 'a', value: '1', partition: 0 }] });
  const second = await p.send({ topic, acks: -1, messages: [{ key: 'a', value: '2', partition: 0 }] });
  expect(first[0]).toMatchObject({ topicName: topic, partition: 0, errorCode: 0, baseOffset: '0' });
  expect(second[0]).toMatchObject({ partition: 0, baseOffset: '1' });
  const admin = await ctx.kafkaAdmin();
  const offsets = await admin.fetchTopicOffsets(topic);
  expect(offsets.find((o) => o.partition === 0)?.high).toBe('2');
});

test('group consume, describeGroups and fetchOffsets', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const group = ctx.group();
  await produce(topic, 30, 3);

  const c = consumer(group);
  const seen: string[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') });
  await eventually(() => seen.length === 30, { what: '30 messages' });

  const admin = await ctx.kafkaAdmin();
  const described = await admin.describeGroups([group]);
  expect(described.groups[0]).toMatchObject({ groupId: group, state: 'Stable', protocolType: 'consumer' });
  expect(described.groups[0]?.members).toHaveLength(1);

  await c.disconnect(); // commits the processed offsets on the way out
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  expect(committed?.partitions.map((p) => p.offset).sort()).toEqual(['10', '10', '10']);
  expect(new Set(seen).size).toBe(30);
});

test('setOffsets moves an empty group to a chosen offset', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  await produce(topic, 10, 1);
  await consumeAll(group, topic, 10);

  const admin = await ctx.kafkaAdmin();
  await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '7' }] });
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  expect(committed?.partitions[0]?.offset).toBe('7');

  const again = await consumeAll(group, topic, 3);
  expect(again.map((m) => m.message.offset)).toEqual(['7', '8', '9']);
});

test('resetOffsets to earliest makes the group read everything again', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const group = ctx.group();
  await produce(topic, 8, 2);
  await consumeAll(group, topic, 8);

  const admin = await ctx.kafkaAdmin();
  await admin.resetOffsets({ groupId: group, topic, earliest: true });
  const again = await consumeAll(group, topic, 8);
  expect(again.map((m) => m.message.value?.toString()).sort()).toEqual(
    Array.from({ length: 8 }, (_, i) => `value-${i}`).sort(),
  );
});

test('fetchTopicOffsetsByTimestamp finds the first offset at or after a time', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const t0 = Date.now() - 60_000;
  await produce(topic, 5, 1, t0);
  await produce(topic, 5, 1, t0 + 30_000);
  const admin = await ctx.kafkaAdmin();
  const atSecond = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 30_000);
  expect(atSecond).toEqual([{ partition: 0, offset: '5' }]);
  const beforeAll = await admin.fetchTopicOffsetsByTimestamp(topic, t0 - 1000);
  expect(beforeAll).toEqual([{ partition: 0, offset: '0' }]);
});

test('transactions: committed records are visible, aborted ones are not, sendOffsets commits the group', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const p = producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
  await p.connect();

  const committed = await p.transaction();
  await committed.send({ topic, messages: [{ key: 'k', value: 'committed' }] });
  await committed.sendOffsets({
    consumerGroupId: group,
    topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }],
  });
  await committed.commit();

  const aborted = await p.transaction();
  await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] });
  await aborted.abort();

  const visible = await p.transaction();
  await visible.send({ topic, messages: [{ key: 'k', value: 'after-abort' }] });
  await visible.commit();

  const admin = await ctx.kafkaAdmin();
  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  expect(offsets?.partitions[0]?.offset).toBe('1');

  // A read_committed consumer (kafkajs' default) from the beginning sees the two committed records only.
  const reader = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  clients.push(reader);
  const values: string[] = [];
  await reader.connect();
  await reader.subscribe({ topic, fromBeginning: true });
  await reader.run({ eachMessage: async ({ message }) => void values.push(message.value?.toString() ?? '') });
  await eventually(() => values.includes('after-abort'), { what: 'the last committed record' });
  expect(values).toEqual(['committed', 'after-abort']);
  await reader.disconnect();
});
