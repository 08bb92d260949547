/**
 * The feature service (services/features/dist/main.js: one pipeline per reference view version, writing
 * Redis) working through a backlog, for bench/service-memory.ts: its topics live under a namespace of
 * their own (ACCORD_TOPIC_NAMESPACE), its Redis keys under a prefix, and everything is removed after. It
 * runs with its own heap profile (serviceNodeFlags(env, "features")), as scripts/demo.sh starts it.
 */
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import {
  connectIfIdle,
  createRedis,
  EventPublisher,
  type ResolvedConfig,
  SERVICE_FETCH_MAX_BYTES,
  type SqlPool,
  serviceNodeFlags,
} from '@accord/sdk';
import type { Admin } from 'kafkajs';
import { measureService, type ServiceRun } from './service-run.ts';

export async function featureServiceMemory(
  config: ResolvedConfig,
  t: { admin: Admin; pool: SqlPool; run: string; total: number; partitions: number },
): Promise<ServiceRun> {
  const ns = `${t.run}-features`;
  // The views' topics as the service names them under the namespace (each view reads `<ns>.<topic>`).
  const topics = [...new Set(COMMERCE_VIEWS.flatMap((v) => v.topics))].map((topic) => `${ns}.${topic}`);
  const orders = `${ns}.commerce.order.events`;
  const readers = COMMERCE_VIEWS.filter((v) => v.topics.includes('commerce.order.events')).length;
  await t.admin.createTopics({
    waitForLeaders: true,
    topics: topics.map((topic) => ({ topic, numPartitions: t.partitions })),
  });
  // Feature groups must be named like the service's (its Kafka ACLs and checkpoint grants: `features*`).
  const group = `features-${t.run}`;
  const prefix = `${t.run}:`;
  const redis = createRedis(config.redis.url);
  try {
    const publisher = new EventPublisher({ catalog: referenceCatalog, config, producer: 'bench' });
    try {
      for (let i = 0; i < t.total; i += 1000)
        await publisher.publishMany(
          Array.from({ length: Math.min(1000, t.total - i) }, (_, j) => {
            const n = i + j;
            const entityId = `o-${n % 500}`;
            return n % 2 === 0
              ? {
                  type: 'OrderPlaced',
                  data: {
                    orderId: entityId,
                    customerId: `c-${n % 200}`,
                    lines: [],
                    totalCents: n % 9000,
                    currency: 'EUR',
                  },
                  options: { entityId, topic: orders },
                }
              : {
                  type: 'DiscountApproved',
                  data: { orderId: entityId, percent: n % 100, approvedBy: 'bench' },
                  options: { entityId, topic: orders },
                };
          }) as never,
        );
    } finally {
      await publisher.close();
    }
    return await measureService({
      what: 'the feature service',
      args: [
        ...serviceNodeFlags({}, 'features'),
        'services/features/dist/main.js',
        '--group',
        group,
        '--prefix',
        prefix,
      ],
      env: {
        ...process.env,
        ACCORD_TOPIC_NAMESPACE: ns,
        ACCORD_FETCH_MAX_BYTES: String(SERVICE_FETCH_MAX_BYTES),
        ACCORD_SERVICE_NODE_OPTIONS: '',
      },
      total: t.total,
      // Done when every view reading the orders topic has checkpointed its end.
      done: async () => {
        const { rows } = await t.pool.query<{ done: string }>(
          `select coalesce(sum(kafka_offset), 0)::text as done from pipeline_checkpoints
            where consumer_group like $1 and topic = $2`,
          [`${group}.%`, orders],
        );
        return Number(rows[0]?.done) >= t.total * readers;
      },
    });
  } finally {
    const groups = COMMERCE_VIEWS.map((v) => `${group}.${v.name}.v${v.version}`);
    await t.pool
      .query('delete from pipeline_checkpoints where consumer_group like $1', [`${group}.%`])
      .catch(() => {});
    await t.admin.deleteGroups(groups).catch(() => {});
    await t.admin.deleteTopics({ topics }).catch(() => {});
    await connectIfIdle(redis);
    await connectIfIdle(redis);
    for (let cursor = '0'; ; ) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    redis.disconnect();
  }
}
