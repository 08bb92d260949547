import type { Admin } from 'kafkajs';
import type { Pool } from 'pg';
import { resolveConfig } from '../config';
import { AccordError } from '../errors';
import { deadLetterTopic } from '../events/topics';
import { fetchLogIdentity, type LogIdentity } from '../infra/kafka-metadata';
import { type CheckpointRow, CheckpointStore, type LogRef } from './checkpoints';
import { CONTROL_CHANNEL } from './control';
import {
  checkPosition,
  type PartitionHealth,
  type PositionVerdict,
  partitionHealth,
  rebindHint,
} from './log-check';
import { groupIsRunning, resolvePositions, type StartPosition } from './positions';

/**
 * Operations on pipelines that are not running code: adding a consumer group at a chosen position,
 * listing positions and lag, replaying from a checkpoint. Used by the CLI; each takes the clients it needs.
 */

export interface AddedConsumer {
  group: string;
  topic: string;
  positions: { partition: number; offset: string }[];
}

/**
 * Registers a new pipeline's starting checkpoint on a topic, so the consumer that joins later starts
 * exactly there (and Kafka's committed offsets say the same).
 */
export async function addConsumer(
  admin: Admin,
  pool: Pool,
  group: string,
  topic: string,
  from: StartPosition,
): Promise<AddedConsumer> {
  if (!(await admin.listTopics()).includes(topic))
    throw new AccordError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist`);
  const store = new CheckpointStore(pool);
  const existing = await store.list(group, topic);
  if (existing.length) {
    throw new AccordError(
      'PIPELINE_INVALID',
      `group "${group}" already has checkpoints on ${topic} (${existing.map((r) => `[${r.partition}]@${r.kafkaOffset}`).join(' ')}): use accord replay to move it`,
    );
  }
  const positions = await resolvePositions(admin, topic, from);
  const log = await liveRef(admin, topic);
  await store.seed(
    group,
    group,
    positions.map((p) => ({ topic, ...p, log })),
  );
  if (!(await groupIsRunning(admin, group)))
    await admin.setOffsets({ groupId: group, topic, partitions: positions });
  return { group, topic, positions };
}

/** The identity of a topic's log now (cluster id alone when topic ids cannot be read). */
export async function liveRef(admin: Admin, topic: string, brokers?: string[]): Promise<LogRef> {
  const identity = await liveIdentity(admin, [topic], brokers);
  return { clusterId: identity.clusterId, topicId: identity.topics.get(topic)?.topicId ?? null };
}

async function liveIdentity(admin: Admin, topics: string[], brokers?: string[]): Promise<LogIdentity> {
  try {
    return await fetchLogIdentity(brokers ?? brokersOf(admin), topics);
  } catch {
    const { clusterId } = await admin.describeCluster();
    return { clusterId, topics: new Map() };
  }
}

/** kafkajs does not tell which brokers an admin client talks to: the configured ones, unless given. */
function brokersOf(_admin: Admin): string[] {
  return resolveConfig().kafka.brokers;
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
  pool: Pool,
  options: { group?: string; stuckAfterSeconds?: number; brokers?: string[] } = {},
): Promise<PartitionLag[]> {
  const rows = await new CheckpointStore(pool).list(options.group);
  const topics = [...new Set(rows.map((r) => r.topic))];
  const existing = new Set(await admin.listTopics());
  const live = topics.filter((t) => existing.has(t));
  const ends = new Map<string, { low: string; high: string }>();
  for (const topic of live) {
    for (const o of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${o.partition}`, o);
  }
  const identity = live.length ? await liveIdentity(admin, live, options.brokers) : undefined;
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

export type ReplayTarget =
  | { kind: 'time'; time: Date }
  | { kind: 'offset'; offset: bigint }
  | { kind: 'earliest' };

export interface ReplayPartitionPlan {
  topic: string;
  partition: number;
  /** The checkpoint now. */
  from: string;
  /** Where re-processing starts. */
  to: string;
  /** Where re-processing stops (--until), or the current checkpoint. */
  until: string;
  /** How many events will be processed again. */
  events: number;
  /** Where the pipeline continues live once the replay is done (never past the log end). */
  resume: string;
  generation: number;
}

export interface ReplayPlan {
  group: string;
  target: ReplayTarget;
  untilTime?: Date;
  running: boolean;
  partitions: ReplayPartitionPlan[];
}

export function describeTarget(target: ReplayTarget): string {
  return target.kind === 'time'
    ? `time ${target.time.toISOString()}`
    : target.kind === 'offset'
      ? `offset ${target.offset}`
      : 'earliest';
}

/** What a replay would do, per partition. Nothing changes. */
export async function planReplay(
  admin: Admin,
  pool: Pool,
  group: string,
  target: ReplayTarget,
  untilTime?: Date,
  brokers?: string[],
): Promise<ReplayPlan> {
  const rows = await new CheckpointStore(pool).list(group);
  if (rows.length === 0)
    throw new AccordError(
      'PIPELINE_INVALID',
      `group "${group}" has no checkpoints: nothing to replay (see accord checkpoints)`,
    );
  // A replay moves positions within the log the checkpoints were written for: refuse any other.
  const blocked = (await pipelineLag(admin, pool, { group, ...(brokers ? { brokers } : {}) })).filter(
    needsRebind,
  );
  if (blocked.length) {
    const first = blocked[0]!;
    throw new AccordError(
      'PIPELINE_INVALID',
      `${blocked.length} partition(s) of ${group} do not point into their live log (${first.topic}[${first.partition}]: ${first.haltedReason ?? first.state}); ${rebindHint(group)}`,
    );
  }
  const partitions: ReplayPartitionPlan[] = [];
  for (const topic of [...new Set(rows.map((r) => r.topic))]) {
    const offsets = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o]));
    const atTime =
      target.kind === 'time'
        ? new Map(
            (await admin.fetchTopicOffsetsByTimestamp(topic, target.time.getTime())).map((o) => [
              o.partition,
              o.offset,
            ]),
          )
        : undefined;
    const atUntil = untilTime
      ? new Map(
          (await admin.fetchTopicOffsetsByTimestamp(topic, untilTime.getTime())).map((o) => [
            o.partition,
            o.offset,
          ]),
        )
      : undefined;
    for (const r of rows.filter((x) => x.topic === topic)) {
      const low = BigInt(offsets.get(r.partition)?.low ?? '0');
      const high = BigInt(offsets.get(r.partition)?.high ?? '0');
      const checkpoint = BigInt(r.kafkaOffset);
      // Never a position past the log end: nothing there will ever arrive to be replayed.
      const current = checkpoint > high ? high : checkpoint;
      const pending = r.replayResume === null ? current : BigInt(r.replayResume);
      const further = pending > current ? pending : current;
      const resume = further > high ? high : further;
      let to =
        target.kind === 'earliest'
          ? low
          : target.kind === 'offset'
            ? target.offset
            : BigInt(atTime?.get(r.partition) ?? r.kafkaOffset);
      if (to < low) to = low;
      if (to > current) to = current; // a replay never skips events forward
      let until = atUntil ? BigInt(atUntil.get(r.partition) ?? r.kafkaOffset) : current;
      if (until > current) until = current;
      if (until < to) until = to;
      partitions.push({
        topic,
        partition: r.partition,
        from: r.kafkaOffset,
        to: to.toString(),
        until: until.toString(),
        events: Number(until - to),
        resume: resume.toString(),
        generation: r.generation,
      });
    }
  }
  return {
    group,
    target,
    ...(untilTime ? { untilTime } : {}),
    running: await groupIsRunning(admin, group),
    partitions,
  };
}

/**
 * Carries out a plan. Each row moves with a compare-and-set on the generation the plan read, bumping it
 * (the position the pipeline had when the row moved becomes replay_resume: events below it are replays):
 * a live instance that still holds the partition is fenced (its next commit fails) and, told through the
 * control channel, re-reads its checkpoint and seeks: no restart, no lost events. A commit that raced the
 * plan makes the replay fail instead of landing on a wrong position. Recorded in pipeline_replays.
 */
export async function executeReplay(
  admin: Admin,
  pool: Pool,
  plan: ReplayPlan,
  requestedBy: string,
): Promise<number> {
  const client = await pool.connect();
  let id: number;
  try {
    await client.query('begin');
    // The replay's row first: partitions carry its id while they replay.
    const { rows } = await client.query<{ id: string }>(
      `insert into pipeline_replays (consumer_group, requested_by, target, until_time, while_running, plan)
       values ($1, $2, $3, $4, $5, $6) returning id`,
      [
        plan.group,
        requestedBy,
        describeTarget(plan.target),
        plan.untilTime ?? null,
        plan.running,
        JSON.stringify(plan.partitions),
      ],
    );
    id = Number(rows[0]?.id);
    for (const p of plan.partitions) {
      if (p.events === 0) continue;
      const { rowCount } = await client.query(
        `update pipeline_checkpoints
            set kafka_offset = $4::bigint, checkpoint_type = 'offset', checkpoint_value = $4::text, updated_at = now(),
                generation = generation + 1,
                replay_resume = $7::bigint, replay_id = $8,
                replay_until = case when $5::bigint < $7::bigint then $5::bigint else null end
          where consumer_group = $1 and topic = $2 and partition = $3 and generation = $6 and kafka_offset >= $4::bigint`,
        [plan.group, p.topic, p.partition, p.to, p.until, p.generation, p.resume, id],
      );
      if (rowCount !== 1) {
        throw new AccordError(
          'PIPELINE_FENCED',
          `${p.topic}[${p.partition}] of ${plan.group} was claimed by another instance while planning the replay: nothing was changed, run it again`,
        );
      }
    }
    await client.query('select pg_notify($1, $2)', [
      CONTROL_CHANNEL,
      JSON.stringify({ group: plan.group, action: 'replay', id }),
    ]);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  if (!plan.running) {
    // Stopped: Kafka's committed offsets follow the table now, so Kafka's tools agree.
    for (const topic of [...new Set(plan.partitions.map((p) => p.topic))]) {
      const partitions = plan.partitions
        .filter((p) => p.topic === topic && p.events > 0)
        .map((p) => ({ partition: p.partition, offset: p.to }));
      if (partitions.length)
        await admin.setOffsets({ groupId: plan.group, topic, partitions }).catch(() => {});
    }
  }
  return id;
}

export interface DeadLetterEntry {
  dlqOffset: string;
  partition: number;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
  action: 'replayed' | 'discarded' | null;
}

/** The records of a group's dead-letter topic, with what operators did about them. */
export async function readDeadLetters(
  admin: Admin,
  pool: Pool,
  kafka: import('kafkajs').Kafka,
  group: string,
): Promise<DeadLetterEntry[]> {
  const topic = deadLetterTopic(group);
  if (!(await admin.listTopics()).includes(topic)) return [];
  const ends = await admin.fetchTopicOffsets(topic);
  const total = ends.reduce((sum, o) => sum + Number(BigInt(o.high) - BigInt(o.low)), 0);
  const entries: DeadLetterEntry[] = [];
  if (total > 0) {
    const reader = `accord-dlq-reader-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    await admin.setOffsets({
      groupId: reader,
      topic,
      partitions: ends.map((o) => ({ partition: o.partition, offset: o.low })),
    });
    const consumer = kafka.consumer({ groupId: reader, maxWaitTimeInMs: 200 });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new AccordError('KAFKA_UNAVAILABLE', `reading ${topic} timed out`, { retriable: true })),
          30000,
        );
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              entries.push({
                dlqOffset: message.offset,
                partition,
                key: message.key?.toString() ?? null,
                value: message.value,
                headers: Object.fromEntries(
                  Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
                ),
                timestamp: message.timestamp,
                action: null,
              });
              if (entries.length >= total) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([reader]).catch(() => {});
    }
  }
  const { rows } = await pool.query<{ dlq_offset: string; action: 'replayed' | 'discarded' }>(
    'select dlq_offset::text, action from pipeline_dead_letter_actions where consumer_group = $1',
    [group],
  );
  const actions = new Map(rows.map((r) => [r.dlq_offset, r.action]));
  for (const e of entries) e.action = actions.get(e.dlqOffset) ?? null;
  return entries.sort((a, b) => Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
}

export async function recordDeadLetterAction(
  pool: Pool,
  group: string,
  dlqOffsets: string[],
  action: 'replayed' | 'discarded',
  by: string,
): Promise<void> {
  await pool.query(
    `insert into pipeline_dead_letter_actions (consumer_group, dlq_offset, action, acted_by)
     select $1, o::bigint, $3, $4 from unnest($2::text[]) as o
     on conflict (consumer_group, dlq_offset) do update set action = excluded.action, acted_by = excluded.acted_by, acted_at = now()`,
    [group, dlqOffsets, action, by],
  );
}
