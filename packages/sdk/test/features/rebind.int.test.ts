/**
 * Derived state across a log change: a feature pipeline's dedupe watermarks remember offsets, and offsets
 * only compare within one log. After the topic is created again (a new topic id) and the group is
 * rebound, the new log's events apply; none is skipped for carrying offsets the old log had passed.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createFeaturePipeline,
  createPgPool,
  defineFeatureView,
  EventPublisher,
  type FeaturePipelines,
  FeatureReader,
  resolveConfig,
} from '@accord/sdk';
import { withOps } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const pool = createPgPool(db.url(), { max: 6 });
const scoped = resolveConfig({ databaseUrl: db.url() });
const prefix = ctx.redisPrefix();
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
const running: FeaturePipelines[] = [];

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
});
afterAll(async () => {
  for (const p of running) {
    await p.stop();
    p.redis.disconnect();
  }
  await publisher.close();
  await pool.end();
  await ctx.cleanup();
});

async function orders(topic: string, count: number): Promise<void> {
  await publisher.publishMany(
    Array.from({ length: count }, (_, i) => ({
      type: 'OrderPlaced',
      data: { orderId: uniqueName('o'), customerId: 'c-1', lines: [], totalCents: 100, currency: 'EUR' },
      options: { entityId: `o-${i}`, topic },
    })),
  );
}

test('after a new log and a rebind, the new events apply: none is skipped by an old watermark', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const view = defineFeatureView({
    name: 'orders',
    version: 1,
    entityType: 'customer',
    topics: [topic],
    eventTypes: ['accord.commerce.OrderPlaced'],
    entityId: (e) => e.value?.customerId as string,
    aggregation: 'count',
  });
  const group = uniqueName('t-feat');
  const reader = new FeatureReader({ views: [view], prefix, config });
  const count = async () => {
    const v = (await reader.get('customer', 'c-1', ['orders'])).orders;
    return v && !('missing' in v) ? v.value : undefined;
  };
  const start = async () => {
    const p = createFeaturePipeline({
      catalog: referenceCatalog,
      views: [view],
      group,
      prefix,
      config: scoped,
      pool,
    });
    running.push(p);
    await p.start();
    return p;
  };
  try {
    await orders(topic, 5);
    const first = await start();
    await eventually(async () => (await count()) === 5, { what: '5 orders counted' });
    await first.stop();

    const admin = await ctx.kafkaAdmin();
    await admin.deleteTopics({ topics: [topic] });
    await eventually(
      async () => {
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
        return (await admin.fetchTopicMetadata({ topics: [topic] })).topics.length === 1;
      },
      { what: 'the topic created again', timeoutMs: 60000, intervalMs: 500 },
    );
    await orders(topic, 3); // offsets 0..2: below the old log's watermark (5)
    await start();
    const featureGroup = `${group}.orders.v1`;
    await withOps(scoped, async (ops) => {
      await eventually(async () => (await ops.lag({ group: featureGroup }))[0]?.state === 'halted', {
        what: 'the partition halted on the new log',
      });
      const plan = await ops.planRebind(featureGroup, 'earliest');
      expect(plan.partitions).toHaveLength(1);
      await ops.executeRebind(plan, 'test');
    });
    let last: number | string | null | undefined;
    await eventually(
      async () => {
        last = await count();
        return last === 8;
      },
      { what: () => `8 orders (5 from the old log, 3 from the new one), got ${last}` },
    );
  } finally {
    reader.close();
  }
});
