/**
 * Kafka clients side by side (issue #15): raw produce and consume of kafkajs 2.2.4 (the SDK's client, with
 * Accord's patch) against @platformatic/kafka (pure JavaScript, maintained), on the same broker, the same
 * pre-encoded records, the same batch size and partitions, alternating A/B, medians of several runs.
 * Produce: idempotent, acks=all, one send per batch, awaited. Consume: one consumer group per run from the
 * earliest offset until every record was seen, no decode, no commits, timed from the group join.
 *
 *   npm run bench:clients -- --events 100000 --runs 3
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import { createKafka, EventPublisher, resolveConfig } from '@accord/sdk';
import type { Message } from 'kafkajs';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    events: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '6' },
    runs: { type: 'string', default: '3' },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);
const runs = Number(values.runs);
const config = resolveConfig();
const id = () => `bench-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const sasl = config.kafka.sasl;
// ESM only: loaded in main() (the benchmarks run as CommonJS-typed modules).
let pk: typeof import('@platformatic/kafka', { with: { 'resolution-mode': 'import' }});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function kafkajsProduce(topic: string, records: Message[]): Promise<number> {
  const producer = createKafka(config).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += batchSize)
    await producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic, messages: records.slice(i, i + batchSize) }],
    });
  const seconds = (performance.now() - t0) / 1000;
  await producer.disconnect();
  return seconds;
}

function platformaticOptions() {
  return {
    clientId: 'accord-bench',
    bootstrapBrokers: config.kafka.brokers,
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism.toUpperCase() as 'SCRAM-SHA-512',
            username: sasl.username,
            password: sasl.password,
          },
        }
      : {}),
  };
}

async function platformaticProduce(topic: string, records: Message[]): Promise<number> {
  const producer = new pk.Producer({ ...platformaticOptions(), idempotent: true, acks: -1 });
  const messages = records.map((m) => ({
    topic,
    key: Buffer.from(m.key as string),
    value: m.value as Buffer,
    headers: new Map(
      Object.entries(m.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(String(v))]),
    ),
  }));
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += batchSize)
    await producer.send({ messages: messages.slice(i, i + batchSize) });
  const seconds = (performance.now() - t0) / 1000;
  await producer.close();
  return seconds;
}

async function kafkajsConsume(topic: string): Promise<number> {
  const consumer = createKafka(config).consumer({ groupId: id(), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let t0 = 0;
  // The clock starts once the group is joined (for both clients): joining is not reading.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    t0 = performance.now();
  });
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= total) resolve((performance.now() - t0) / 1000);
      },
    });
  });
  const seconds = await done;
  await consumer.disconnect();
  return seconds;
}

async function platformaticConsume(topic: string): Promise<number> {
  const consumer = new pk.Consumer({ ...platformaticOptions(), groupId: id(), maxWaitTime: 100 });
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  const t0 = performance.now(); // consume() resolves once the group is joined
  let seen = 0;
  for await (const _message of stream) if (++seen >= total) break;
  const seconds = (performance.now() - t0) / 1000;
  await stream.close();
  await consumer.close();
  return seconds;
}

async function main(): Promise<void> {
  pk = await import('@platformatic/kafka');
  const admin = createKafka(config).admin();
  await admin.connect();
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'bench',
    autoRegister: true,
  });
  const topics: string[] = [];
  try {
    const records: Message[] = [];
    for (let n = 0; n < total; n++)
      records.push(
        (
          await publisher.prepare(
            'DiscountApproved',
            { orderId: `o-${n}`, percent: n % 100, approvedBy: 'bench' },
            { entityId: `o-${n % 500}`, topic: 'unused' },
          )
        ).message,
      );
    const times = {
      kjProduce: [] as number[],
      pkProduce: [] as number[],
      kjConsume: [] as number[],
      pkConsume: [] as number[],
    };
    for (let r = 0; r < runs; r++) {
      const [kj, pk] = [`${id()}-kafkajs`, `${id()}-platformatic`];
      topics.push(kj, pk);
      await admin.createTopics({
        waitForLeaders: true,
        topics: [kj, pk].map((topic) => ({ topic, numPartitions: partitions })),
      });
      // Alternate which client goes first, so neither always meets a warmer broker.
      const order = r % 2 === 0 ? (['kj', 'pk'] as const) : (['pk', 'kj'] as const);
      for (const c of order)
        if (c === 'kj') times.kjProduce.push(await kafkajsProduce(kj, records));
        else times.pkProduce.push(await platformaticProduce(pk, records));
      for (const c of order)
        if (c === 'kj') times.kjConsume.push(await kafkajsConsume(kj));
        else times.pkConsume.push(await platformaticConsume(pk));
      process.stderr.write(`[bench] kafka-clients run ${r + 1}/${runs} done\n`);
    }
    const rate = (xs: number[]) => total / median(xs);
    const rows = [
      ['produce: kafkajs 2.2.4 (patched) sendBatch', rate(times.kjProduce), 1],
      [
        'produce: @platformatic/kafka send',
        rate(times.pkProduce),
        rate(times.pkProduce) / rate(times.kjProduce),
      ],
      ['consume: kafkajs 2.2.4 eachBatch', rate(times.kjConsume), 1],
      [
        'consume: @platformatic/kafka stream',
        rate(times.pkConsume),
        rate(times.pkConsume) / rate(times.kjConsume),
      ],
    ] as const;
    process.stdout.write(`\n${'client'.padEnd(48)}${'events/s'.padStart(11)}${'vs kafkajs'.padStart(12)}\n`);
    for (const [name, value, ratio] of rows)
      process.stdout.write(
        `${name.padEnd(48)}${Math.round(value).toString().padStart(11)}${`${ratio.toFixed(2)}x`.padStart(12)}\n`,
      );
    process.stdout.write(
      `\n(${total} records of ${(records[0]?.value as Buffer | undefined)?.length ?? 0} bytes in batches of ${batchSize}, ${partitions} partitions, idempotent, acks=all; medians of ${runs} runs, A/B alternated; same broker)\n`,
    );
    writeMetrics(
      values.json,
      'kafka-clients',
      rows.map(([name, value, ratio]) => ({ name, value, unit: 'events/s' as const, ratio })),
    );
  } finally {
    await publisher.close();
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
