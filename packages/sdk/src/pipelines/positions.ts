import type { Admin } from 'kafkajs';
import { AccordError, describeError } from '../errors';
import { withRetry } from '../infra/retry';
import type { CheckpointStore } from './checkpoints';
import type { PartitionGuard } from './guard';

/** Where a consumer starts on a topic: its earliest or latest offsets, or the first offsets at or after a time. */
export type StartPosition = 'earliest' | 'latest' | Date;

export function parseStartPosition(raw: string, option = '--from'): StartPosition {
  if (raw === 'earliest' || raw === 'latest') return raw;
  const time = Date.parse(raw);
  if (Number.isNaN(time))
    throw new AccordError('USAGE', `${option} must be earliest, latest or an ISO time, got "${raw}"`);
  return new Date(time);
}

/** Per-partition offsets of a topic for a start position (a time resolves to the first offset at or after it). */
export async function resolvePositions(
  admin: Admin,
  topic: string,
  from: StartPosition,
): Promise<{ partition: number; offset: string }[]> {
  if (from instanceof Date) return withRetry(() => admin.fetchTopicOffsetsByTimestamp(topic, from.getTime()));
  const offsets = await withRetry(() => admin.fetchTopicOffsets(topic));
  return offsets.map((o) => ({ partition: o.partition, offset: from === 'earliest' ? o.low : o.high }));
}

/** True while the group has members (live, or dead but not yet expired): admin.setOffsets would wait on them. */
export async function groupIsRunning(admin: Admin, group: string): Promise<boolean> {
  const { groups } = await admin.describeGroups([group]);
  const state = groups[0]?.state ?? 'Dead';
  return state !== 'Empty' && state !== 'Dead';
}

/**
 * Before joining: partitions without a checkpoint get one at `from` (earliest or latest), and while
 * the group is empty Kafka's committed offsets are set to the checkpoints, so the first fetch starts
 * at the right place (the table stays the source of truth either way: see onBatch).
 */
export async function prepareGroup(g: {
  admin: Admin;
  store: CheckpointStore;
  guard: PartitionGuard;
  pipeline: string;
  group: string;
  from: 'earliest' | 'latest';
  topics: string[];
}): Promise<void> {
  const { admin, store, guard, topics } = g;
  const existing = await store.list(g.group);
  const known = new Set(existing.map((r) => `${r.topic}:${r.partition}`));
  const offsets = new Map<string, Awaited<ReturnType<Admin['fetchTopicOffsets']>>>();
  for (const topic of topics) offsets.set(topic, await withRetry(() => admin.fetchTopicOffsets(topic)));
  const seeds = [];
  for (const topic of topics) {
    const fresh = (offsets.get(topic) ?? []).filter((o) => !known.has(`${topic}:${o.partition}`));
    if (fresh.length === 0) continue;
    const log = await guard.liveRef(topic);
    for (const o of fresh)
      seeds.push({
        topic,
        partition: o.partition,
        offset: g.from === 'latest' ? o.high : o.low,
        log,
      });
  }
  await store.seed(g.pipeline, g.group, seeds);
  // Rows that are halted are not pushed into Kafka's offsets: the claim decides what happens to them.
  const rows = (await store.list(g.group)).filter((r) => r.haltedReason === null);
  // With live (or not yet expired) members, setOffsets would wait on a rebalance: leave positions to
  // onBatch, which aligns every partition with its checkpoint anyway.
  if (await groupIsRunning(admin, g.group)) return;
  for (const topic of topics) {
    const partitions = rows
      .filter((r) => r.topic === topic)
      .map((r) => ({ partition: r.partition, offset: r.kafkaOffset }));
    if (partitions.length === 0) continue;
    // setOffsets joins the group (slow): only when Kafka's committed offsets differ from the checkpoints.
    const [committed] = await admin.fetchOffsets({ groupId: g.group, topics: [topic] });
    const low = new Map((offsets.get(topic) ?? []).map((o) => [o.partition, o.low]));
    const inLine = partitions.every((p) => {
      const c = committed?.partitions.find((x) => x.partition === p.partition)?.offset ?? '-1';
      return c === p.offset || (c === '-1' && p.offset === low.get(p.partition));
    });
    if (inLine) continue;
    try {
      await admin.setOffsets({ groupId: g.group, topic, partitions });
    } catch {
      // The group has live members (other instances): they hold the right positions already.
    }
  }
}

/**
 * Kafka's committed offsets of a stopped group follow the table (so Kafka's own tools agree). The table
 * is the source of truth and a pipeline aligns Kafka's positions when it starts, so a failure here loses
 * nothing; it is reported (KAFKA_UNAVAILABLE, after the table moved) rather than swallowed.
 */
export async function setGroupOffsets(
  admin: Admin,
  group: string,
  positions: { topic: string; partition: number; offset: string }[],
): Promise<void> {
  for (const topic of [...new Set(positions.map((p) => p.topic))]) {
    const partitions = positions
      .filter((p) => p.topic === topic)
      .map((p) => ({ partition: p.partition, offset: p.offset }));
    // A group whose last member just left may not read Empty yet (kafkajs refuses a group with members):
    // tried again for a few seconds, then said, never swallowed.
    await withRetry(() => admin.setOffsets({ groupId: group, topic, partitions }), {
      attempts: 6,
      initialMs: 200,
      maxMs: 1000,
      retryIf: () => true,
    }).catch((error) => {
      throw new AccordError(
        'KAFKA_UNAVAILABLE',
        `the checkpoints of ${group} moved, but Kafka's committed offsets on ${topic} could not follow (${describeError(error)}): the pipeline aligns them when it starts`,
        { cause: error, retriable: true },
      );
    });
  }
}
