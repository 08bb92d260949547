/**
 * Checkpoints bound to their log, on the real broker and Postgres: a topic recreated under a group's
 * checkpoints halts its partitions (never a silent seek) until `rebind`; a checkpoint outside the log is
 * halted or moved by the policy, and recorded; a replay is refused on a log that is not the checkpoints'
 * own; pattern subscriptions pick up topics created after the start.
 */
import { resolve } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  CheckpointStore,
  createPgPool,
  createPipeline,
  EventPublisher,
  fetchLogIdentity,
  type Incident,
  type Pipeline,
  resolveConfig,
  Telemetry,
} from '@accord/sdk';
import { migrate, Ops } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';
import { PartitionGuard } from '../../src/pipelines/guard';
import { defaultLogger } from '../../src/telemetry/log';

jest.setTimeout(120000);

const config = resolveConfig();
const ctx = new TestContext(config);
const schema = uniqueName('t_schema', '_');
let pool: Pool;
let ops: Ops;
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
const pipelines: Pipeline[] = [];

beforeAll(async () => {
  await migrate(config.postgres.url, resolve(__dirname, '../../../../infra/postgres/migrations'), { schema });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 8 });
  const url = new URL(config.postgres.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  ops = await Ops.connect(resolveConfig({ databaseUrl: url.toString() }));
});
afterAll(async () => {
  for (const p of pipelines) await p.stop();
  await publisher.close();
  await ops.close();
  await pool.end();
  await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  await ctx.cleanup();
});

function pipeline(options: Omit<Parameters<typeof createPipeline>[0], 'config' | 'pool'>): Pipeline {
  const p = createPipeline({ config, pool, ...options });
  pipelines.push(p);
  return p;
}

async function publish(topic: string, from: number, to: number): Promise<void> {
  await publisher.publishMany(
    Array.from({ length: to - from }, (_, i) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: from + i, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic },
    })),
  );
}

/** Deletes a topic and creates it again under the same name (a new topic id, an empty log). */
async function recreate(topic: string): Promise<void> {
  const admin = await ctx.kafkaAdmin();
  await admin.deleteTopics({ topics: [topic] });
  await eventually(
    async () => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      return (await admin.fetchTopicMetadata({ topics: [topic] })).topics.length === 1;
    },
    { what: `${topic} created again`, timeoutMs: 60000, intervalMs: 500 },
  );
}

async function incidents(group: string) {
  return new CheckpointStore(pool).incidents(group);
}

test('Metadata v12 gives the cluster id and a topic id that changes when the topic is created again', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const admin = await ctx.kafkaAdmin();
  const first = await fetchLogIdentity(config.kafka, [topic, 'no-such-topic-here']);
  expect(first.clusterId).toBe((await admin.describeCluster()).clusterId);
  expect(first.topics.get(topic)).toEqual({
    topicId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    partitions: 3,
  });
  expect(first.topics.has('no-such-topic-here')).toBe(false);
  expect((await fetchLogIdentity(config.kafka, [topic])).topics.get(topic)).toEqual(first.topics.get(topic));
  await recreate(topic);
  const again = await fetchLogIdentity(config.kafka, [topic]);
  expect(again.clusterId).toBe(first.clusterId);
  expect(again.topics.get(topic)?.topicId).not.toBe(first.topics.get(topic)?.topicId);
  await expect(fetchLogIdentity({ brokers: ['127.0.0.1:1'] }, [topic])).rejects.toThrow(
    /cannot read the cluster and topic ids \(Metadata v12\): 127\.0\.0\.1:1: /,
  );
});

test('a topic created again under the checkpoints: the partition halts with the reason, replay is refused, rebind resumes it from earliest', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const seen: number[] = [];
  const reported: Incident[] = [];
  const telemetry = new Telemetry();
  telemetry.on((e) => {
    if (e.type === 'incident') reported.push(e.incident);
  });
  const options = {
    name: group,
    topics: [topic],
    mode: 'transactional' as const,
    telemetry,
    handler: (e: { value: Record<string, unknown> | null }) => {
      seen.push(e.value?.percent as number);
    },
  };
  await publish(topic, 0, 3);
  const before = pipeline(options);
  await before.start();
  await eventually(() => seen.length === 3, { what: '3 events before the topic is recreated' });
  await before.stop();
  const [old] = await new CheckpointStore(pool).list(group);
  expect(old).toMatchObject({ kafkaOffset: '3', haltedReason: null, clusterId: expect.any(String) });

  await recreate(topic);
  await publish(topic, 100, 120);
  const after = pipeline(options);
  await after.start();
  const [halt] = await eventually(async () => {
    const rows = await incidents(group);
    return rows.length ? rows : undefined;
  });
  expect(halt).toMatchObject({ kind: 'identity-changed', action: 'halted', checkpoint: '3', logEnd: '20' });
  expect(halt?.detail).toMatch(
    new RegExp(
      `checkpoint 3 belongs to cluster \\S+ topic id ${old?.topicId}, but the log is now cluster \\S+ topic id \\S+: refusing to process this partition; resolve with: accord checkpoints rebind ${group} --from earliest\\|latest\\|<ISO time>`,
    ),
  );
  expect(reported.map((i) => i.kind)).toEqual(['identity-changed']);
  expect(seen).toHaveLength(3); // nothing from the new log
  expect(after.stats.halted).toBe(1);
  const [lag] = await ops.lag({ group });
  expect(lag).toMatchObject({
    state: 'halted',
    verdict: 'identity-changed',
    checkpoint: '3',
    logEnd: '20',
    lag: 0,
  });
  await expect(ops.planReplay(group, { kind: 'earliest' })).rejects.toThrow(
    /do not point into their live log .*accord checkpoints rebind/,
  );

  const plan = await ops.planRebind(group, 'earliest');
  expect(plan.partitions).toEqual([
    expect.objectContaining({ topic, partition: 0, from: '3', to: '0', saved: expect.any(Object) }),
  ]);
  expect(plan.running).toBe(true);
  const id = await ops.executeRebind(plan, 'test');
  await eventually(() => seen.length === 23, { what: 'the 20 events of the new log after the rebind' });
  expect(seen.slice(3)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
  const { rows } = await pool.query('select kind, target, requested_by from pipeline_replays where id = $1', [
    id,
  ]);
  expect(rows[0]).toEqual({ kind: 'rebind', target: 'rebind from earliest', requested_by: 'test' });
  await eventually(async () => {
    const [row] = await ops.lag({ group });
    return row?.state === 'caught up' && row.checkpoint === '20' && row.haltedReason === null;
  });
  // A second rebind has nothing to do.
  expect((await ops.planRebind(group, 'earliest')).partitions).toEqual([]);
});

test('a checkpoint before the log start: earliest moves past the gap and records the lost offsets; fail halts', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  await publish(topic, 0, 10);
  const admin = await ctx.kafkaAdmin();
  const lenient = ctx.group();
  const strict = ctx.group();
  const store = new CheckpointStore(pool);
  // Both groups were added at the start of the log; retention then deletes offsets 0..3.
  const log = { clusterId: (await admin.describeCluster()).clusterId, topicId: null };
  for (const group of [lenient, strict])
    await store.seed(group, group, [{ topic, partition: 0, offset: '0', log }]);
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] });

  const seen: number[] = [];
  await pipeline({
    name: lenient,
    topics: [topic],
    onOutOfRange: 'earliest',
    handler: (e) => {
      seen.push(e.value?.percent as number);
    },
  }).start();
  await eventually(() => seen.length === 6, { what: 'the 6 events still in the log' });
  expect(seen).toEqual([4, 5, 6, 7, 8, 9]);
  expect(await incidents(lenient)).toEqual([
    expect.objectContaining({
      kind: 'out-of-range',
      action: 'moved',
      checkpoint: '0',
      logStart: '4',
      movedTo: '4',
      lost: '4',
      detail: expect.stringMatching(/checkpoint 0 is before the log start 4 .* 4 offset\(s\) lost/),
    }),
  ]);

  let strictSeen = 0;
  const halted = pipeline({
    name: strict,
    topics: [topic],
    mode: 'transactional',
    handler: () => {
      strictSeen++;
    },
  });
  await halted.start();
  const [incident] = await eventually(async () => {
    const rows = await incidents(strict);
    return rows.length ? rows : undefined;
  });
  expect(incident).toMatchObject({ kind: 'out-of-range', action: 'halted', lost: null });
  expect(incident?.detail).toMatch(/out-of-range policy is fail: resolve with: accord checkpoints rebind/);
  expect(strictSeen).toBe(0);
  const [row] = await ops.lag({ group: strict });
  expect(row).toMatchObject({ state: 'halted', checkpoint: '0', logStart: '4' });
});

test('a checkpoint past the log end is never "caught up": lag says so, earliest resumes at the log end', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  await publish(topic, 0, 20);
  const group = ctx.group();
  const identity = await fetchLogIdentity(config.kafka, [topic]);
  const log = { clusterId: identity.clusterId, topicId: identity.topics.get(topic)?.topicId ?? null };
  // As after an unclean leader election that truncated the log: the checkpoint (43) is beyond its end (20).
  await new CheckpointStore(pool).seed(group, group, [{ topic, partition: 0, offset: '43', log }]);
  const [ahead] = await ops.lag({ group });
  expect(ahead).toMatchObject({ state: 'past log end', verdict: 'out-of-range', lag: 0, logEnd: '20' });

  const seen: number[] = [];
  await pipeline({
    name: group,
    topics: [topic],
    handler: (e) => {
      seen.push(e.value?.percent as number);
    },
  }).start();
  const [incident] = await eventually(async () => {
    const rows = await incidents(group);
    return rows.length ? rows : undefined;
  });
  expect(incident).toMatchObject({ kind: 'out-of-range', action: 'moved', movedTo: '20', lost: '0' });
  await publish(topic, 20, 22);
  await eventually(() => seen.length === 2, { what: 'the 2 events published after the move' });
  expect(seen).toEqual([20, 21]);
});

test('a pattern subscription picks up a topic created after the start, from its first event', async () => {
  const prefix = uniqueName('t-watch');
  const admin = await ctx.kafkaAdmin();
  const first = `${prefix}.a`;
  const later = `${prefix}.b`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: first, numPartitions: 1 }] });
  ctx.onCleanup(async () => {
    await admin.deleteTopics({ topics: [first, later] });
  });
  const seen: string[] = [];
  const p = pipeline({
    name: ctx.group(),
    topics: new RegExp(`^${prefix.replace(/[-.]/g, '\\$&')}\\.`),
    from: 'latest',
    topicRefreshMs: 300,
    handler: (e) => {
      seen.push(`${e.topic}:${e.value?.percent}`);
    },
  });
  await p.start();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: later, numPartitions: 2 }] });
  await publish(later, 0, 5); // before the pipeline noticed the topic: still processed, from the start
  await publish(first, 7, 8);
  await eventually(() => seen.length === 6, { what: () => `6 events, saw ${seen.join(' ')}` });
  expect(seen.filter((s) => s.startsWith(later)).sort()).toEqual([0, 1, 2, 3, 4].map((n) => `${later}:${n}`));
  expect(seen).toContain(`${first}:7`);
});

test('a claim that meets a checkpoint another instance moved past the log end it read reads the end again, and proceeds', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  await publish(topic, 0, 5);
  const group = ctx.group();
  const store = new CheckpointStore(pool);
  const identity = await fetchLogIdentity(config.kafka, [topic]);
  const log = { clusterId: identity.clusterId, topicId: identity.topics.get(topic)?.topicId ?? null };
  await store.seed(group, group, [{ topic, partition: 0, offset: '5', log }]);
  const admin = await ctx.kafkaAdmin();
  // Two members trading the partition in a rebalance: right after this claim reads the log end (5), three
  // events arrive and the other member handles them and checkpoints 8, before this claim reads the row.
  let raced = false;
  const racing = new Proxy(admin, {
    get(target, prop, receiver) {
      if (prop !== 'fetchTopicOffsets') return Reflect.get(target, prop, receiver);
      return async (t: string) => {
        const read = await target.fetchTopicOffsets(t);
        if (!raced) {
          raced = true;
          await publish(topic, 5, 8);
          const other = await store.claim(group, group, topic, 0, '0', log);
          await store.advance(pool, { group, topic, partition: 0, epoch: other.epoch }, 8n, 'offset', '7');
        }
        return read;
      };
    },
  });
  const guard = new PartitionGuard({
    admin: () => racing,
    store,
    kafka: config.kafka,
    pipeline: group,
    group,
    policy: 'fail', // a transactional pipeline's: a checkpoint past the end would halt the partition
    log: defaultLogger(),
    telemetry: new Telemetry(),
    counted: () => {},
  });
  const claimed = await guard.claim(topic, 0, 'earliest');
  expect(raced).toBe(true);
  expect(claimed).toMatchObject({ kind: 'proceed', state: { next: 8n } });
  expect(await incidents(group)).toEqual([]);
});
