/**
 * publishMany (validate + Avro encode + envelope + headers, idempotent, acks=all) against raw kafkajs
 * sending the same records pre-encoded, with the same acks, batch size and partitions, in one run.
 *
 *   npm run bench:publish -- --events 50000
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import { createKafka, EventPublisher, resolveConfig } from '@accord/sdk';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    events: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '6' },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;
const event = (n: number) => ({ orderId: `o-${n}`, percent: n % 100, approvedBy: 'bench' });

async function main(): Promise<void> {
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const rawTopic = `${run}-raw.order.events`;
  const sdkTopic = `${run}-sdk.order.events`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [rawTopic, sdkTopic].map((topic) => ({ topic, numPartitions: partitions })),
  });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'bench',
    autoRegister: true,
  });
  try {
    // Pre-encode the same records for the raw run (outside the timed section).
    const prepared = [];
    for (let n = 0; n < total; n++) {
      prepared.push(
        (await publisher.prepare('DiscountApproved', event(n), { entityId: `o-${n % 500}`, topic: rawTopic }))
          .message,
      );
    }
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    let t0 = Date.now();
    for (let i = 0; i < total; i += batchSize) {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic: rawTopic, messages: prepared.slice(i, i + batchSize) }],
      });
    }
    const raw = (Date.now() - t0) / 1000;
    await producer.disconnect();

    await publisher.publish('DiscountApproved', event(0), { entityId: 'warm-up', topic: sdkTopic }); // connect, schema id
    t0 = Date.now();
    for (let i = 0; i < total; i += batchSize) {
      await publisher.publishMany(
        Array.from({ length: Math.min(batchSize, total - i) }, (_, j) => ({
          type: 'DiscountApproved',
          data: event(i + j),
          options: { entityId: `o-${(i + j) % 500}`, topic: sdkTopic },
        })),
      );
    }
    const sdk = (Date.now() - t0) / 1000;

    process.stdout.write(
      `\n${'producer'.padEnd(52)}${'seconds'.padStart(9)}${'events/s'.padStart(11)}${'vs raw'.padStart(9)}\n`,
    );
    for (const [name, seconds] of [
      ['raw kafkajs sendBatch, pre-encoded', raw],
      ['EventPublisher.publishMany (validate + encode)', sdk],
    ] as const) {
      process.stdout.write(
        `${name.padEnd(52)}${seconds.toFixed(2).padStart(9)}${Math.round(total / seconds)
          .toString()
          .padStart(11)}${`${(raw / seconds).toFixed(2)}x`.padStart(9)}\n`,
      );
    }
    writeMetrics(values.json, 'publish-throughput', [
      {
        name: 'produce: raw kafkajs sendBatch (pre-encoded)',
        value: total / raw,
        unit: 'events/s',
        ratio: 1,
      },
      {
        name: 'produce: publishMany (validate + encode, idempotent, acks=all)',
        value: total / sdk,
        unit: 'events/s',
        ratio: raw / sdk,
      },
    ]);
    process.stdout.write(
      `\n(${total} events in batches of ${batchSize}, ${partitions} partitions, idempotent, acks=all, same broker, one run)\n`,
    );
  } finally {
    await publisher.close();
    await admin.deleteTopics({ topics: [rawTopic, sdkTopic] }).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
