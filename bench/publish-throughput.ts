/**
 * publishMany (validate + Avro encode + envelope + headers, idempotent, acks=all) against raw kafkajs
 * sending the same records pre-encoded, with the same acks, batch size and partitions, in one run.
 *
 * The two sides take turns: slices of `--slice` events (default 10,000), raw then publishMany then
 * publishMany then raw (ABBA), each side's time summed over its slices. Run as two blocks of 200,000
 * (what it was until the ninth session), the ratio followed the machine's speed from one block to the
 * next: 0.74–0.99x for the same code in the same hour on this two-core machine, where the broker
 * shares the cores; taking turns every few hundred milliseconds, both sides meet the same machine.
 *
 * The raw side sends pre-encoded records (at most 10,000 distinct ones, cycled: encoding is not what it
 * measures, and they stay in memory for the whole run). `--sdk-first` starts the turns with publishMany.
 *
 *   npm run bench:publish -- --events 1000000 [--batch 1000] [--slice 10000] [--partitions 6] [--sdk-first]
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import { createKafka, EventPublisher, resolveConfig } from '@accord/sdk';
import type { Message } from 'kafkajs';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    events: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '1000' },
    slice: { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '6' },
    'sdk-first': { type: 'boolean' },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);
const slice = Number(values.slice);
if (![total, batchSize, partitions, slice].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('bench: --events, --batch, --slice and --partitions must be positive whole numbers\n');
  process.exit(2);
}
/** In the metrics' names: the ratio at 200,000 events and at 1,000,000 are different numbers. */
const size = `${total.toLocaleString('en-US')} events`;
/** Events each side sends untimed first (not counted). */
const warmup = Math.min(20_000, Math.ceil(total / 10));
/** Distinct pre-encoded records the raw side cycles through. */
const PREPARED_MAX = 10_000;
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
    const raw1 = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    // Both sides count their events from `from`, so the keys (500 entities) and values match.
    const runRaw = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i += batchSize) {
        const messages = Array.from(
          { length: Math.min(batchSize, from + count - i) },
          (_, j) => prepared[(i + j) % prepared.length]!,
        );
        await raw1.sendBatch({ acks: -1, topicMessages: [{ topic: rawTopic, messages }] });
      }
    };
    const runSdk = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i += batchSize) {
        await publisher.publishMany(
          Array.from({ length: Math.min(batchSize, from + count - i) }, (_, j) => ({
            type: 'DiscountApproved',
            data: event(i + j),
            options: { entityId: `o-${(i + j) % 500}`, topic: sdkTopic },
          })),
        );
      }
    };
    await raw1.connect();
    // The raw side's records, encoded by the publisher outside the timed section.
    const prepared: Message[] = [];
    for (let n = 0; n < Math.min(total, PREPARED_MAX); n++) {
      prepared.push(
        (await publisher.prepare('DiscountApproved', event(n), { entityId: `o-${n % 500}`, topic: rawTopic }))
          .message,
      );
    }
    // Each side first sends `warmup` events untimed: whichever ran first paid for cold code (kafkajs' own
    // JIT included) and its ratio moved by 0.1 with the order (200,000 events: 0.92x raw first, 0.79x after).
    await runRaw(0, warmup);
    await runSdk(0, warmup);
    let raw = 0;
    let sdk = 0;
    const timed = async (side: 'raw' | 'sdk', from: number, count: number) => {
      const t0 = process.hrtime.bigint();
      await (side === 'raw' ? runRaw : runSdk)(from, count);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (side === 'raw') raw += seconds;
      else sdk += seconds;
    };
    let turn = values['sdk-first'] ? 1 : 0;
    for (let from = 0; from < total; from += slice, turn++) {
      const count = Math.min(slice, total - from);
      const order: ('raw' | 'sdk')[] = turn % 2 === 0 ? ['raw', 'sdk'] : ['sdk', 'raw'];
      for (const side of order) await timed(side, from, count);
      if ((from / slice) % 20 === 19)
        process.stderr.write(`bench: ${from + count} of ${total} events a side\n`);
    }
    await raw1.disconnect();

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
        name: `produce: raw kafkajs sendBatch (pre-encoded), ${size}`,
        value: total / raw,
        unit: 'events/s',
        ratio: 1,
      },
      {
        name: `produce: publishMany (validate + encode, idempotent, acks=all), ${size}`,
        value: total / sdk,
        unit: 'events/s',
        ratio: raw / sdk,
      },
    ]);
    process.stdout.write(
      `\n(${total} events a side in batches of ${batchSize}, taking turns every ${slice} (ABBA, ${values['sdk-first'] ? 'publishMany first' : 'raw first'}), ${partitions} partitions, idempotent, acks=all, same broker, ${warmup} untimed first on each side)\n`,
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
