/**
 * Feature reads against raw Redis, and end-to-end staleness at a steady event rate, in one run.
 *   npm run bench:features -- --rate 500 --seconds 10 --reads 2000
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import {
  createFeaturePipeline,
  createKafka,
  createPgPool,
  createRedis,
  defineFeatureView,
  EventPublisher,
  FeatureReader,
  Histogram,
  resolveConfig,
  stateKey,
  Telemetry,
} from '@accord/sdk';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    reads: { type: 'string', default: '2000' },
    // Events leave in a batch every tick: a steady rate at this granularity (100 ms ticks made bursts of
    // rate/10 events, and a burst's last event waited for the whole burst: staleness measured the burst).
    'tick-ms': { type: 'string', default: '10' },
    // Published but not counted: the groups' first join and a cold JIT made the first second's p95 ~180 ms
    // against ~7 ms after it, and the staleness asked for is the steady rate's.
    'warmup-seconds': { type: 'string', default: '2' },
    // The feature pipelines' option (default 250); 0 writes checkpoints after every chunk, as before.
    'checkpoint-every-ms': { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const reads = Number(values.reads);
const tickMs = Number(values['tick-ms']);
const warmupSeconds = Number(values['warmup-seconds']);
const checkpointEveryMs =
  values['checkpoint-every-ms'] === undefined ? undefined : Number(values['checkpoint-every-ms']);
if (!(rate > 0) || !(seconds > 0) || !(tickMs >= 1) || !Number.isInteger((rate * tickMs) / 1000)) {
  process.stderr.write(
    '--rate, --seconds and --tick-ms must be positive, and rate × tick a whole number of events\n',
  );
  process.exit(2);
}
if (!(warmupSeconds >= 0) || (checkpointEveryMs !== undefined && !(checkpointEveryMs >= 0))) {
  process.stderr.write('--warmup-seconds and --checkpoint-every-ms must be numbers of 0 or more\n');
  process.exit(2);
}
const perTick = (rate * tickMs) / 1000;
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;
const topic = `${run}.order.events`;
const prefix = `${run}:`;
const customer = (e: { value: Record<string, unknown> | null }) => e.value?.customerId as string;
const views = [
  defineFeatureView({
    name: 'order_count',
    version: 1,
    entityType: 'customer',
    topics: [topic],
    entityId: customer,
    aggregation: 'count',
    eventTypes: ['accord.commerce.OrderPlaced'],
  }),
  defineFeatureView({
    name: 'lifetime_value_cents',
    version: 1,
    entityType: 'customer',
    topics: [topic],
    entityId: customer,
    aggregation: 'sum',
    value: (e) => e.value?.totalCents as number,
    eventTypes: ['accord.commerce.OrderPlaced'],
  }),
  defineFeatureView({
    name: 'max_order_cents',
    version: 1,
    entityType: 'customer',
    topics: [topic],
    entityId: customer,
    aggregation: 'max',
    value: (e) => e.value?.totalCents as number,
    eventTypes: ['accord.commerce.OrderPlaced'],
  }),
];
const names = views.map((v) => v.name);

async function main(): Promise<void> {
  const admin = createKafka(config).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
  const pool = createPgPool(config.postgres.url, { max: 4 });
  const endToEnd = new Histogram('accord_feature_end_to_end_staleness_ms');
  const telemetry = new Telemetry();
  let counting = false; // after the warm-up
  telemetry.on((e) => {
    if (e.type === 'features.written' && counting) for (const ms of e.endToEndMs) endToEnd.record(ms);
  });
  const features = createFeaturePipeline({
    catalog: referenceCatalog,
    views,
    group: run,
    prefix,
    config,
    pool,
    telemetry,
    ...(checkpointEveryMs === undefined ? {} : { checkpointEveryMs }),
  });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'bench',
    autoRegister: true,
  });
  const reader = new FeatureReader({ views, prefix, config });
  const raw = createRedis(config.redis.url);
  try {
    await features.start();
    const warmup = rate * warmupSeconds;
    const total = warmup + rate * seconds;
    process.stdout.write(
      `publishing ${total} events at ${rate}/s for ${warmupSeconds}s of warm-up (not counted) and ${seconds}s while the feature pipeline runs...\n`,
    );
    const started = Date.now();
    for (let n = 0; n < total; n += perTick) {
      // Counted from the first event published after the warm-up (a few earlier ones may still be in flight).
      if (n >= warmup) counting = true;
      const due = started + (n / rate) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await publisher.publishMany(
        Array.from({ length: perTick }, (_, j) => ({
          type: 'OrderPlaced',
          data: {
            orderId: `o-${n + j}`,
            customerId: `c-${(n + j) % 1000}`,
            lines: [],
            totalCents: 100 + ((n + j) % 5000),
            currency: 'EUR',
          },
          options: { entityId: `o-${n + j}`, topic },
        })),
      );
    }
    // Each view version is its own pipeline: every one of them processes every event.
    while (features.stats.processed < total * views.length) await new Promise((r) => setTimeout(r, 100));
    const staleness = endToEnd.summary();

    await raw.connect();
    const sdkLatency = new Histogram('sdk');
    const rawLatency = new Histogram('raw');
    for (let i = 0; i < reads; i++) {
      const id = `c-${i % 1000}`;
      let t = performance.now();
      await reader.get('customer', id, names);
      sdkLatency.record(performance.now() - t);
      t = performance.now();
      const p = raw.pipeline();
      for (const v of views) p.hgetall(stateKey(prefix, v, id));
      await p.exec();
      rawLatency.record(performance.now() - t);
    }
    const s = sdkLatency.summary();
    const r = rawLatency.summary();
    const ms = (x: number | undefined) => `${(x ?? 0).toFixed(3)} ms`;
    process.stdout.write(`\nreads of ${names.length} features for one customer, ${reads} times:\n`);
    process.stdout.write(`  raw redis pipelined HGETALL     p50 ${ms(r.p50)}  p99 ${ms(r.p99)}\n`);
    process.stdout.write(
      `  FeatureReader.get (snapshot)   p50 ${ms(s.p50)}  p99 ${ms(s.p99)}  (${((s.p50 ?? 0) / (r.p50 ?? 1)).toFixed(2)}x raw at p50)\n`,
    );
    process.stdout.write(
      `\nend-to-end staleness (appended to Kafka -> visible in Redis) at ${rate} events/s (${perTick} every ${tickMs} ms):\n`,
    );
    process.stdout.write(
      `  p50 ${staleness.p50} ms  p95 ${staleness.p95} ms  p99 ${staleness.p99} ms  (${staleness.count} events)\n`,
    );
    writeMetrics(values.json, 'feature-read', [
      { name: 'features: raw redis HGETALL p50', value: r.p50 ?? Number.NaN, unit: 'ms', ratio: 1 },
      {
        name: 'features: FeatureReader.get p50',
        value: s.p50 ?? Number.NaN,
        unit: 'ms',
        ratio: (r.p50 ?? 0) / (s.p50 ?? 1),
      },
      {
        name: `features: end-to-end staleness p50 at ${rate}/s`,
        value: staleness.p50 ?? Number.NaN,
        unit: 'ms',
      },
      {
        name: `features: end-to-end staleness p95 at ${rate}/s`,
        value: staleness.p95 ?? Number.NaN,
        unit: 'ms',
      },
      {
        name: `features: end-to-end staleness p99 at ${rate}/s`,
        value: staleness.p99 ?? Number.NaN,
        unit: 'ms',
      },
    ]);
  } finally {
    await features.stop();
    features.redis.disconnect();
    await publisher.close();
    const keys = await raw.keys(`${prefix}*`).catch(() => [] as string[]);
    if (keys.length) await raw.del(...keys);
    raw.disconnect();
    reader.close();
    await pool.query('delete from pipeline_checkpoints where consumer_group = $1', [run]).catch(() => {});
    await pool.end();
    await admin.deleteGroups([run]).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
