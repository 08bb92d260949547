/**
 * The features system test's world: 20,000 reference events on the test's own topics, archived by the
 * archive service and computed by the feature pipelines, with the helpers that read both back.
 * Imported by the test file, it registers that file's setup and cleanup.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  CheckpointStore,
  createAccord,
  createFeaturePipeline,
  createPgPool,
  EventPublisher,
  type FeaturePipelines,
  FeatureReader,
  type FeatureResult,
  Histogram,
  resolveConfig,
  Telemetry,
} from '@accord/sdk';
import { withOps } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { createArchivePipeline } from '../../../services/archive/src/archive';
import { readArchive, testViews } from './model';

export const ROOT = join(__dirname, '../../..');
export const config = resolveConfig();
export const ctx = new TestContext(config);
export const db = ctx.database();
export const pool = createPgPool(db.url(), { max: 8 });
export const scoped = resolveConfig({ databaseUrl: db.url() });
export const prefix = ctx.redisPrefix();
export const run = uniqueName('t');
export const topics = {
  order: `${run}.order.events`,
  stock: `${run}.stock_item.events`,
  customer: `${run}.customer.events`,
};
export const stops: (() => Promise<void>)[] = [];

export const views = testViews(topics);
export const customerViews = views
  .filter((v) => v.entityType === 'customer')
  .map((v) => `${v.name}@${v.version}`);
export const group = uniqueName('t-features');
export let features: FeaturePipelines;
// What the telemetry seam reports: end-to-end staleness per write, staleness per value read.
export const written = new Histogram('written');
export const read = new Histogram('read');
export const telemetry = new Telemetry();
telemetry.on((e) => {
  if (e.type === 'features.written') for (const ms of e.endToEndMs) written.record(ms);
  if (e.type === 'features.read') for (const ms of e.stalenessMs) read.record(ms);
});
export const reader = new FeatureReader({ views, prefix, config, telemetry });

export const archivedEvents = () => readArchive(pool);

export function featureValue(result: FeatureResult | undefined): number | string | null | undefined {
  return result && !('missing' in result) ? result.value : undefined;
}

export async function snapshot(now: number): Promise<Map<string, Record<string, FeatureResult>>> {
  const ids = Array.from({ length: 200 }, (_, i) => `c-${i}`);
  return reader.getMany('customer', ids, customerViews, now);
}

export async function startFeatures(): Promise<void> {
  features = createFeaturePipeline({
    catalog: referenceCatalog,
    views,
    group,
    prefix,
    config: scoped,
    pool,
    telemetry,
  });
  stops.push(async () => {
    await features.stop();
    features.redis.disconnect();
  });
  await features.start();
}

export async function caughtUp(g: string, total: number): Promise<boolean> {
  return (await new CheckpointStore(pool).list(g)).reduce((s, r) => s + Number(r.kafkaOffset), 0) === total;
}

/** Every group of these feature pipelines has a checkpoint at the log end on every partition. */
export async function featuresCaughtUp(groups: string[] = features.groups): Promise<boolean> {
  return withOps(scoped, async (ops) => {
    for (const g of groups) {
      const rows = await ops.lag({ group: g });
      if (rows.length === 0 || !rows.every((r) => r.state === 'caught up')) return false;
    }
    return true;
  });
}

export const now0 = Date.now();
export const TOTAL = 20_000;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = await ctx.kafkaAdmin();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topics.order, numPartitions: 6 },
      { topic: topics.stock, numPartitions: 3 },
      { topic: topics.customer, numPartitions: 3 },
    ],
  });
  ctx.onCleanup(async () => {
    await admin.deleteTopics({ topics: Object.values(topics) });
  });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'feature-test',
    autoRegister: true,
  });
  const batch: {
    type: string;
    data: Record<string, unknown>;
    options: { entityId: string; topic: string; occurredAt: number };
  }[] = [];
  for (let n = 0; n < TOTAL; n++) {
    const at = now0 - (TOTAL - n) * 150; // the last 50 minutes
    if (n % 2 === 0) {
      batch.push({
        type: 'OrderPlaced',
        data: {
          orderId: `o-${n}`,
          customerId: `c-${n % 200}`,
          lines: [{ sku: `sku-${n % 100}`, quantity: 1, unitPriceCents: 100 + (n % 37) }],
          totalCents: 100 + ((n * 7) % 9000),
          currency: n % 3 === 0 ? 'EUR' : n % 3 === 1 ? 'USD' : 'GBP',
        },
        options: { entityId: `o-${n}`, topic: topics.order, occurredAt: at },
      });
    } else if (n % 5 === 1) {
      batch.push({
        type: 'StockReserved',
        data: {
          sku: `sku-${n % 100}`,
          orderId: `o-${n - 1}`,
          quantity: 1,
          onHandAfter: 1000 - (n % 500),
          reservedAfter: n % 50,
        },
        options: { entityId: `sku-${n % 100}`, topic: topics.stock, occurredAt: at },
      });
    } else {
      batch.push({
        type: 'DiscountApproved',
        data: { orderId: `o-${n - 1}`, percent: n % 45, approvedBy: 'pricing' },
        options: { entityId: `o-${(n - 1) % 4000}`, topic: topics.order, occurredAt: at },
      });
    }
  }
  for (let i = 0; i < batch.length; i += 1000) await publisher.publishMany(batch.slice(i, i + 1000) as never);
  await publisher.close();

  const accord = createAccord({ databaseUrl: db.url(), catalog: referenceCatalog });
  const archive = createArchivePipeline(accord, {
    group: uniqueName('t-archive'),
    topics: Object.values(topics),
  });
  stops.push(() => accord.close());
  await archive.start();
  await startFeatures();
  await eventually(async () => (await caughtUp(archive.group, TOTAL)) && (await featuresCaughtUp()), {
    timeoutMs: 180000,
    intervalMs: 500,
    what: 'archive and features caught up',
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  reader.close();
  await pool.end();
  await ctx.cleanup();
});
