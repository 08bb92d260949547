/**
 * What the consuming benchmarks share: a fresh topic of DiscountApproved events on the running stack,
 * published with publishMany, and everything they made (topic, consumer groups, checkpoints) removed after,
 * whatever happened.
 */
import { referenceCatalog } from '@accord/reference';
import { createKafka, createPgPool, EventPublisher, type ResolvedConfig } from '@accord/sdk';

export interface BenchTopic {
  kafka: ReturnType<typeof createKafka>;
  admin: ReturnType<ReturnType<typeof createKafka>['admin']>;
  pool: ReturnType<typeof createPgPool>;
  topic: string;
  /** Consumer groups the benchmark made: their checkpoints and Kafka groups are deleted after. */
  groups: string[];
  /** Events/s of the publish. */
  published: number;
}

/** Runs `fn` on a new topic holding `total` events (`entities` distinct keys), then cleans up. */
export async function withBenchTopic<T>(
  config: ResolvedConfig,
  options: { run: string; partitions: number; total: number; entities: number; poolSize?: number },
  fn: (t: BenchTopic) => Promise<T>,
): Promise<T> {
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const topic = `${options.run}.order.events`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: options.partitions }] });
  const pool = createPgPool(config.postgres.url, { max: options.poolSize ?? 8 });
  const groups: string[] = [];
  try {
    process.stdout.write(
      `publishing ${options.total} events to ${topic} (${options.partitions} partitions)... `,
    );
    const publisher = new EventPublisher({
      catalog: referenceCatalog,
      config,
      producer: 'bench',
      autoRegister: true,
    });
    const started = Date.now();
    for (let i = 0; i < options.total; i += 1000)
      await publisher.publishMany(
        Array.from({ length: Math.min(1000, options.total - i) }, (_, j) => ({
          type: 'DiscountApproved',
          data: { orderId: `o-${i + j}`, percent: (i + j) % 100, approvedBy: 'bench' },
          options: { entityId: `o-${(i + j) % options.entities}`, topic },
        })),
      );
    await publisher.close();
    const published = options.total / ((Date.now() - started) / 1000);
    process.stdout.write(`${Math.round(published)} events/s (publishMany, acks=all)\n`);
    return await fn({ kafka, admin, pool, topic, groups, published });
  } finally {
    await pool
      .query('delete from pipeline_checkpoints where consumer_group = any($1)', [groups])
      .catch(() => {});
    await pool.end();
    await admin.deleteGroups(groups).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

/** Runs a benchmark's main: an error ends the process with its stack and exit code 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
