import type { Admin } from 'kafkajs';
import { resolveConfig } from '../config';
import type { KafkaEndpoint } from '../infra/kafka-metadata';
import { fetchLogIdentity, type LogIdentity } from '../infra/kafka-metadata';
import { withRetry } from '../infra/retry';
import type { SqlPool } from '../infra/sql';
import { type CheckpointRow, CheckpointStore, type LogRef } from '../pipelines/checkpoints';
import {
  checkPosition,
  type PartitionHealth,
  type PositionVerdict,
  partitionHealth,
} from '../pipelines/log-check';

/** The identity of a topic's log now (cluster id alone when topic ids cannot be read). */
export async function liveRef(admin: Admin, topic: string, kafka?: KafkaEndpoint): Promise<LogRef> {
  const identity = await liveIdentity(admin, [topic], kafka);
  return { clusterId: identity.clusterId, topicId: identity.topics.get(topic)?.topicId ?? null };
}

async function liveIdentity(admin: Admin, topics: string[], kafka?: KafkaEndpoint): Promise<LogIdentity> {
  try {
    // kafkajs does not tell which brokers an admin client talks to: the configured ones, unless given.
    return await fetchLogIdentity(kafka ?? resolveConfig().kafka, topics);
  } catch {
    const { clusterId } = await admin.describeCluster();
    return { clusterId, topics: new Map() };
  }
}

export interface PartitionLag {
  group: string;
  pipeline: string;
  topic: string;
  partition: number;
  checkpoint: string;
  checkpointType: string;
  checkpointValue: string;
  logEnd: string;
  lag: number;
  updatedAt: Date;
  /** Seconds since the checkpoint last moved. */
  idleSeconds: number;
  /** Lag that has not moved for longer than the threshold. */
  stuck: boolean;
  replaying: boolean;
  logStart: string;
  /** Why the pipeline does not process this partition, or null. */
  haltedReason: string | null;
  /** What the checkpoint is against the live log: ok, unbound, identity-changed, out-of-range. */
  verdict: PositionVerdict['kind'];
  /** What to show: a checkpoint outside its log is never "caught up". */
  state: PartitionHealth;
  /** The log the checkpoint was written for, and the live one. */
  saved: LogRef | null;
  live: LogRef | null;
}

/** Positions, lag (log end minus checkpoint) and last progress, per group and partition. */
export async function pipelineLag(
  admin: Admin,
  pool: SqlPool,
  options: { group?: string; stuckAfterSeconds?: number; kafka?: KafkaEndpoint } = {},
): Promise<PartitionLag[]> {
  const rows = await new CheckpointStore(pool).list(options.group);
  const topics = [...new Set(rows.map((r) => r.topic))];
  const existing = new Set(await admin.listTopics());
  const live = topics.filter((t) => existing.has(t));
  const ends = new Map<string, { low: string; high: string }>();
  for (const topic of live) {
    for (const o of await withRetry(() => admin.fetchTopicOffsets(topic)))
      ends.set(`${topic}:${o.partition}`, o);
  }
  const identity = live.length ? await liveIdentity(admin, live, options.kafka) : undefined;
  const now = Date.now();
  const stuckAfter = options.stuckAfterSeconds ?? 300;
  return rows.map((r) => {
    const range = ends.get(`${r.topic}:${r.partition}`);
    const logEnd = range?.high ?? r.kafkaOffset;
    const logStart = range?.low ?? r.kafkaOffset;
    const ref: LogRef | null =
      identity && existing.has(r.topic)
        ? { clusterId: identity.clusterId, topicId: identity.topics.get(r.topic)?.topicId ?? null }
        : null;
    const saved = savedRef(r);
    const verdict = ref
      ? checkPosition({
          checkpoint: BigInt(r.kafkaOffset),
          saved,
          live: ref,
          logStart: BigInt(logStart),
          logEnd: BigInt(logEnd),
        })
      : ({ kind: 'ok' } as PositionVerdict);
    const rawLag = BigInt(logEnd) - BigInt(r.kafkaOffset);
    const lag = verdict.kind === 'identity-changed' ? 0 : Math.max(0, Number(rawLag));
    const idleSeconds = Math.round((now - r.updatedAt.getTime()) / 1000);
    const stuck = lag > 0 && idleSeconds > stuckAfter;
    const replaying = r.replayResume !== null;
    return {
      group: r.consumerGroup,
      pipeline: r.pipelineName,
      topic: r.topic,
      partition: r.partition,
      checkpoint: r.kafkaOffset,
      checkpointType: r.checkpointType,
      checkpointValue: r.checkpointValue,
      logEnd,
      lag,
      updatedAt: r.updatedAt,
      idleSeconds,
      stuck,
      replaying,
      logStart,
      haltedReason: r.haltedReason,
      verdict: verdict.kind,
      state: partitionHealth({
        halted: r.haltedReason !== null,
        verdict: verdict.kind === 'out-of-range' ? `out-of-range:${verdict.where}` : verdict.kind,
        lag: rawLag,
        stuck,
        replaying,
      }),
      saved,
      live: ref,
    };
  });
}

function savedRef(r: CheckpointRow): LogRef | null {
  return r.clusterId === null ? null : { clusterId: r.clusterId, topicId: r.topicId };
}

/** Partitions that cannot proceed as they are: the command that resolves them is a rebind. */
export function needsRebind(r: PartitionLag): boolean {
  return r.haltedReason !== null || r.verdict === 'identity-changed' || r.verdict === 'out-of-range';
}
