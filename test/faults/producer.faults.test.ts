/**
 * The producer through a leadership change, on a real three-broker cluster. kafkajs 2.2.4 sends a batch as
 * one request per partition leader and, on a retry, re-sends only to brokers that have not answered yet:
 * when a partition's leadership moved to a broker that already answered for another partition, that
 * partition's records were never sent again and `send` resolved as if they had been (acknowledged, lost).
 * The fault suite found it as "4 acknowledged events not archived" after a broker SIGKILL; here the same
 * leader move is made deterministic with a partition reassignment, no kill needed. Fixed by
 * patches/kafkajs+2.2.4.patch (retries are tracked per partition, not per broker).
 */
import { referenceCatalog } from '@accord/reference';
import { EventPublisher } from '@accord/sdk';
import { eventually, TestContext } from '@accord/testing';
import { type Cluster, startCluster } from './cluster';

jest.setTimeout(300_000);

let cluster: Cluster;
let ctx: TestContext;

beforeAll(async () => {
  cluster = await startCluster();
  ctx = new TestContext(cluster.config);
}, 240_000);

afterAll(async () => {
  try {
    await ctx?.cleanup();
  } finally {
    await cluster?.down();
  }
});

test('a batch over two leaders, one partition moving to the other leader meanwhile: every acknowledged event is in the log', async () => {
  const admin = await ctx.kafkaAdmin();
  // Partition 0 led by broker 1, partition 1 by broker 2.
  const topic = await ctx.createTopic({
    replicaAssignment: [
      { partition: 0, replicas: [1, 2, 3] },
      { partition: 1, replicas: [2, 3, 1] },
    ],
  });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'faults',
    autoRegister: true,
  });
  try {
    // One event per entity: warms the producer's metadata (partition 1 at broker 2) and says where each entity goes.
    const partitionOf = new Map<string, number>();
    for (let e = 0; e < 12; e++) {
      const entityId = `o-${e}`;
      const ack = await publisher.publish(
        'DiscountApproved',
        { orderId: entityId, percent: 1, approvedBy: 'warm-up' },
        { entityId, topic },
      );
      partitionOf.set(entityId, ack.partition);
    }
    const on = (p: number) => [...partitionOf].filter(([, partition]) => partition === p).map(([id]) => id);
    expect(on(0).length).toBeGreaterThan(0);
    expect(on(1).length).toBeGreaterThan(0);

    // Partition 1 moves to brokers 1 and 3: broker 1 leads it now, and broker 2 answers NOT_LEADER for it.
    await admin.alterPartitionReassignments({
      topics: [{ topic, partitionAssignment: [{ partition: 1, replicas: [1, 3] }] }],
    });
    await eventually(
      async () => {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const p1 = meta.topics[0]?.partitions.find((p) => p.partitionId === 1);
        const { topics } = await admin.listPartitionReassignments({ topics: [{ topic, partitions: [1] }] });
        return p1?.leader === 1 && topics.length === 0;
      },
      { timeoutMs: 60000, what: 'partition 1 led by broker 1 after the reassignment' },
    );

    // Right after the move the admin's metadata may still name the old leader: ask until it answers.
    const offsets = () =>
      eventually(() => admin.fetchTopicOffsets(topic).catch(() => undefined), {
        timeoutMs: 30000,
        what: "the partitions' offsets",
      });
    const before = await offsets();
    const batch = [...on(0), ...on(1)].map((entityId) => ({
      type: 'DiscountApproved' as const,
      data: { orderId: entityId, percent: 2, approvedBy: 'batch' },
      options: { entityId, topic },
    }));
    const sent = await publisher.publishMany(batch);
    expect(sent).toHaveLength(batch.length);
    const after = await offsets();
    const grew = (p: number) =>
      Number(after.find((o) => o.partition === p)?.high) -
      Number(before.find((o) => o.partition === p)?.high);
    // Acknowledged means written: each partition's log grew by the events sent to it.
    expect({ partition0: grew(0), partition1: grew(1) }).toEqual({
      partition0: on(0).length,
      partition1: on(1).length,
    });
  } finally {
    await publisher.close();
  }
});
