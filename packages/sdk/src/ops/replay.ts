import type { Admin } from 'kafkajs';
import { AccordError } from '../errors';
import type { KafkaEndpoint } from '../infra/kafka-metadata';
import type { SqlPool } from '../infra/sql';
import { inTransaction } from '../infra/transaction';
import { CheckpointStore } from '../pipelines/checkpoints';
import { notifyControl, requestFlush } from '../pipelines/control';
import { rebindHint } from '../pipelines/log-check';
import { groupIsRunning, setGroupOffsets } from '../pipelines/positions';
import { needsRebind, pipelineLag } from './lag';

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
  /**
   * Members of the running group that did not write the positions they hold in memory when asked (an
   * instance of an older version, a consumer that is not an Accord pipeline): what they handled within
   * their last checkpoint interval is not in the plan, and is processed again live, not as a replay.
   */
  unflushed: number;
  partitions: ReplayPartitionPlan[];
  /** Agents call their side effects again instead of returning the recorded results (--recompute). */
  recompute?: boolean;
}

export function describeTarget(target: ReplayTarget): string {
  return target.kind === 'time'
    ? `time ${target.time.toISOString()}`
    : target.kind === 'offset'
      ? `offset ${target.offset}`
      : 'earliest';
}

/** What a replay would do, per partition. Nothing changes. */
/**
 * One partition's replay, in offsets: from `to` (default the log start; never before it, never past the
 * checkpoint: a replay never skips events forward) up to `until` (default the checkpoint), then on from
 * `resume` (the furthest position reached, counting an unfinished earlier replay; never past the log end).
 */
export function replayWindow(p: {
  checkpoint: bigint;
  replayResume: bigint | null;
  low: bigint;
  high: bigint;
  to: bigint | undefined;
  until: bigint | undefined;
}): { to: bigint; until: bigint; resume: bigint } {
  const max = (a: bigint, b: bigint) => (a > b ? a : b);
  const min = (a: bigint, b: bigint) => (a < b ? a : b);
  // Never a position past the log end: nothing there will ever arrive to be replayed.
  const current = min(p.checkpoint, p.high);
  const resume = min(max(p.replayResume ?? current, current), p.high);
  const to = min(max(p.to ?? p.low, p.low), current);
  const until = max(min(p.until ?? current, current), to);
  return { to, until, resume };
}

export async function planReplay(
  admin: Admin,
  pool: SqlPool,
  group: string,
  target: ReplayTarget,
  untilTime?: Date,
  kafka?: KafkaEndpoint,
): Promise<ReplayPlan> {
  // Running instances with deferred checkpoints hold their newest positions in memory: written first, so
  // the replay reaches what they handled (planned from the table alone, events handled within the last
  // interval were not replayed, and a partition still at its claim looked like nothing to replay).
  const { groups } = await admin.describeGroups([group]);
  const members = groups[0]?.members.length ?? 0;
  const unflushed = members - (await requestFlush(pool, group, members));
  const rows = await new CheckpointStore(pool).list(group);
  if (rows.length === 0)
    throw new AccordError(
      'PIPELINE_INVALID',
      `group "${group}" has no checkpoints: nothing to replay (see accord checkpoints)`,
    );
  // A replay moves positions within the log the checkpoints were written for: refuse any other.
  const blocked = (await pipelineLag(admin, pool, { group, ...(kafka ? { kafka } : {}) })).filter(
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
      const wanted =
        target.kind === 'earliest'
          ? undefined
          : target.kind === 'offset'
            ? target.offset
            : BigInt(atTime?.get(r.partition) ?? r.kafkaOffset);
      const { to, until, resume } = replayWindow({
        checkpoint: BigInt(r.kafkaOffset),
        replayResume: r.replayResume === null ? null : BigInt(r.replayResume),
        low: BigInt(offsets.get(r.partition)?.low ?? '0'),
        high: BigInt(offsets.get(r.partition)?.high ?? '0'),
        to: wanted,
        until: atUntil ? BigInt(atUntil.get(r.partition) ?? r.kafkaOffset) : undefined,
      });
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
    unflushed,
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
  pool: SqlPool,
  plan: ReplayPlan,
  requestedBy: string,
): Promise<number> {
  const id = await inTransaction(pool, async (client) => {
    // The replay's row first: partitions carry its id while they replay.
    const { rows } = await client.query<{ id: string }>(
      `insert into pipeline_replays (consumer_group, requested_by, target, until_time, while_running, plan, recompute)
       values ($1, $2, $3, $4, $5, $6, $7) returning id`,
      [
        plan.group,
        requestedBy,
        describeTarget(plan.target),
        plan.untilTime ?? null,
        plan.running,
        JSON.stringify(plan.partitions),
        plan.recompute === true,
      ],
    );
    const id = Number(rows[0]?.id);
    for (const p of plan.partitions) {
      if (p.events === 0) continue;
      // A running pipeline may have checkpointed past the plan's position since it was read (`from`):
      // the replay then resumes from where it got to, and an unbounded replay (until = from) re-processes
      // up to there too. Resuming from the planned position instead would hand those events to the live
      // path a second time, after the replay had recomputed what they touched (a feature view would skip
      // them by its watermark: lost).
      const { rowCount } = await client.query(
        `update pipeline_checkpoints
            set kafka_offset = $4::bigint, checkpoint_type = 'offset', checkpoint_value = $4::text, updated_at = now(),
                generation = generation + 1,
                replay_resume = greatest($7::bigint, kafka_offset), replay_id = $8,
                replay_until = case
                  when $5::bigint = $9::bigint then null
                  when $5::bigint < greatest($7::bigint, kafka_offset) then $5::bigint
                  else null end
          where consumer_group = $1 and topic = $2 and partition = $3 and generation = $6 and kafka_offset >= $4::bigint`,
        [plan.group, p.topic, p.partition, p.to, p.until, p.generation, p.resume, id, p.from],
      );
      if (rowCount !== 1) {
        throw new AccordError(
          'PIPELINE_FENCED',
          `${p.topic}[${p.partition}] of ${plan.group} was claimed by another instance while planning the replay: nothing was changed, run it again`,
        );
      }
    }
    await notifyControl(client, { group: plan.group, action: 'replay', id });
    return id;
  });
  // Stopped: Kafka's committed offsets follow the table now, so Kafka's tools agree.
  if (!plan.running)
    await setGroupOffsets(
      admin,
      plan.group,
      plan.partitions
        .filter((p) => p.events > 0)
        .map((p) => ({ topic: p.topic, partition: p.partition, offset: p.to })),
    );
  return id;
}
