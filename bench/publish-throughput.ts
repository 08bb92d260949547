/**
 * publishMany (validate + Avro encode + envelope + headers, idempotent, acks=all) against raw kafkajs
 * sending the same records pre-encoded, with the same acks, batch size and partitions, in one run.
 *
 * The raw side sends pre-encoded records (at most 50,000 distinct ones, cycled: encoding is not what it
 * measures, and 1,000,000 pre-encoded records with headers would take a gigabyte). `--sdk-first` runs
 * publishMany before the raw producer (npm run bench alternates the order between runs).
 *
 *   npm run bench:publish -- --events 1000000 [--batch 1000] [--partitions 6] [--sdk-first]
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
    partitions: { type: 'string', default: '6' },
    'sdk-first': { type: 'boolean' },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);
if (![total, batchSize, partitions].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('bench: --events, --batch and --partitions must be positive whole numbers\n');
  process.exit(2);
}
/** In the metrics' names: the ratio at 200,000 events and at 1,000,000 are different numbers. */
const size = `${total.toLocaleString('en-US')} events`;
/** Events each side sends untimed first (not counted). */
const warmup = Math.min(20_000, Math.ceil(total / 10));
/** Distinct pre-encoded records the raw side cycles through. */
const PREPARED_MAX = 50_000;
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
    // Each side first sends `warmup` events untimed: whichever ran first paid for cold code (kafkajs' own
    // JIT included) and its ratio moved by 0.1 with the order (200,000 events: 0.92x raw first, 0.79x after).
    const raw1 = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const runRaw = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += batchSize) {
        const messages = Array.from(
          { length: Math.min(batchSize, count - i) },
          (_, j) => prepared[(i + j) % prepared.length]!,
        );
        await raw1.sendBatch({ acks: -1, topicMessages: [{ topic: rawTopic, messages }] });
      }
    };
    const runSdk = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += batchSize) {
        await publisher.publishMany(
          Array.from({ length: Math.min(batchSize, count - i) }, (_, j) => ({
            type: 'DiscountApproved',
            data: event(i + j),
            options: { entityId: `o-${(i + j) % 500}`, topic: sdkTopic },
          })),
        );
      }
    };
    await raw1.connect();
    // The raw side's records, pre-encoded outside the timed section, made just before it runs and dropped
    // after: held while publishMany ran, their 50,000 messages made its garbage collections slower (publishMany
    // alone in a process: 33,700 events/s; 27,300 in the benchmark with them held): the benchmark's cost.
    let prepared: Message[] = [];
    const prepareRaw = async () => {
      for (let n = 0; n < Math.min(total, PREPARED_MAX); n++) {
        prepared.push(
          (
            await publisher.prepare('DiscountApproved', event(n), {
              entityId: `o-${n % 500}`,
              topic: rawTopic,
            })
          ).message,
        );
      }
    };
    const timed = async (side: (count: number) => Promise<void>): Promise<number> => {
      await side(warmup);
      const t0 = Date.now();
      await side(total);
      return (Date.now() - t0) / 1000;
    };
    let raw: number;
    let sdk: number;
    const rawSide = async () => {
      await prepareRaw();
      const seconds = await timed(runRaw);
      prepared = [];
      return seconds;
    };
    if (values['sdk-first']) {
      sdk = await timed(runSdk);
      raw = await rawSide();
    } else {
      raw = await rawSide();
      sdk = await timed(runSdk);
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
      `\n(${total} events in batches of ${batchSize}, ${partitions} partitions, idempotent, acks=all, same broker, one run, ${values['sdk-first'] ? 'publishMany first' : 'raw first'}, ${warmup} untimed first on each side)\n`,
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
