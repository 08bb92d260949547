/**
 * Replay (issue #15): events/s re-processed by `accord replay <group> --to-earliest` (the operator's plan,
 * the control message, the running pipeline seeking back and re-processing with Avro decode, its
 * checkpoints back at the log end) against a raw kafkajs consumer reading the same topic from the start
 * and decoding with avsc, on the same broker in the same run.
 *
 *   npm run bench:replay -- --events 1000000
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import {
  createKafka,
  createPgPool,
  createPipeline,
  EventPublisher,
  RegistryHttpClient,
  resolveConfig,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import avsc from 'avsc';
import type { Message } from 'kafkajs';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '6' },
    json: { type: 'string' },
  },
});
const total = Number(values.events);
const partitions = Number(values.partitions);
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;

async function main(): Promise<void> {
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const topic = `${run}.order.events`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  const pool = createPgPool(config.postgres.url, { max: 8 });
  const ops = await Ops.connect(config);
  const groups: string[] = [];
  try {
    // The events, encoded once by the SDK and sent raw (the replay is measured, not the publishing).
    process.stderr.write(`[bench] replay: publishing ${total} events to ${topic}\n`);
    const publisher = new EventPublisher({
      catalog: referenceCatalog,
      config,
      producer: 'bench',
      autoRegister: true,
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < total; i += 5000) {
      const messages: Message[] = [];
      for (let n = i; n < Math.min(total, i + 5000); n++)
        messages.push(
          (
            await publisher.prepare(
              'DiscountApproved',
              { orderId: `o-${n}`, percent: n % 100, approvedBy: 'bench' },
              { entityId: `o-${n % 500}`, topic },
            )
          ).message,
        );
      // One request for the 5,000 (about 170 KB a partition, under the broker's limits): the setup of a
      // 1,000,000-event run took half the benchmark's time in requests of 1,000.
      await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
    }
    await producer.disconnect();
    await publisher.close();

    // Raw: kafkajs eachBatch from the start, decoding each body with avsc (the writer's schema fetched once).
    const registry = new RegistryHttpClient(config.schemaRegistry.url);
    const writerId = (
      await registry.lookup(
        'accord.commerce.DiscountApproved',
        JSON.stringify(referenceCatalog.schema('accord.commerce.DiscountApproved')),
      )
    )?.id;
    if (writerId === undefined) throw new Error('DiscountApproved is not registered');
    const writer = avsc.Type.forSchema(JSON.parse((await registry.schemaById(writerId)).schema));
    const rawGroup = `${run}-raw`;
    groups.push(rawGroup);
    const consumer = kafka.consumer({ groupId: rawGroup, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let count = 0;
    let t0 = 0;
    const rawSeconds = await new Promise<number>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
          t0 ||= performance.now();
          for (const m of batch.messages) {
            if (m.value) writer.fromBuffer(m.value.subarray(5));
            count++;
            resolveOffset(m.offset);
          }
          await commitOffsetsIfNecessary();
          if (count >= total) resolve((performance.now() - t0) / 1000);
        },
      });
    });
    await consumer.disconnect();

    // Accord: a running pipeline that starts at the log end, then an operator's replay to the earliest.
    const group = `${run}-pipeline`;
    groups.push(group);
    let handled = 0;
    const pipeline = createPipeline({
      name: group,
      topics: [topic],
      from: 'latest',
      config,
      pool,
      handler: () => {
        handled++;
      },
    });
    await pipeline.start();
    const plan = await ops.planReplay(group, { kind: 'earliest' });
    const started = performance.now();
    await ops.executeReplay(plan, 'bench');
    const outcome = await ops.awaitReplay(plan, { timeoutMs: 30 * 60_000, intervalMs: 200 });
    const replaySeconds = (performance.now() - started) / 1000;
    await pipeline.stop();
    if (outcome.outcome !== 'caught-up' || handled < total)
      throw new Error(`the replay did not finish: ${outcome.outcome}, ${handled} of ${total} handled`);

    const rows = [
      ['replay: raw kafkajs from the start + avsc decode', total / rawSeconds, 1],
      [
        'replay: accord replay --to-earliest (pipeline, Avro decode)',
        total / replaySeconds,
        rawSeconds / replaySeconds,
      ],
    ] as const;
    process.stdout.write(`\n${'replay'.padEnd(62)}${'events/s'.padStart(11)}${'vs raw'.padStart(9)}\n`);
    for (const [name, value, ratio] of rows)
      process.stdout.write(
        `${name.padEnd(62)}${Math.round(value).toString().padStart(11)}${`${ratio.toFixed(2)}x`.padStart(9)}\n`,
      );
    process.stdout.write(
      `\n(${total} events, ${partitions} partitions; the replay timed from the operator's command to every checkpoint back at the log end)\n`,
    );
    writeMetrics(
      values.json,
      'replay',
      rows.map(([name, value, ratio]) => ({ name, value, unit: 'events/s' as const, ratio })),
    );
  } finally {
    await ops.close().catch(() => {});
    await pool
      .query('delete from pipeline_checkpoints where consumer_group = any($1)', [groups])
      .catch(() => {});
    await pool.end();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.deleteGroups(groups).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
