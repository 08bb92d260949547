import type { Admin } from 'kafkajs';
import { AccordError } from '../errors';
import type { KafkaEndpoint } from '../infra/kafka-metadata';
import type { SqlPool } from '../infra/sql';
import { inTransaction } from '../infra/transaction';
import type { LogRef } from '../pipelines/checkpoints';
import { notifyControl } from '../pipelines/control';
import {
  groupIsRunning,
  resolvePositions,
  type StartPosition,
  setGroupOffsets,
} from '../pipelines/positions';
import { liveRef, needsRebind, pipelineLag } from './lag';

export interface RebindPartitionPlan {
  topic: string;
  partition: number;
  /** The checkpoint now, and why it must be rebound. */
  from: string;
  reason: string;
  /** The new position in the live log. */
  to: string;
  saved: LogRef | null;
  live: LogRef;
  generation: number;
}

export interface RebindPlan {
  group: string;
  from: StartPosition;
  running: boolean;
  partitions: RebindPartitionPlan[];
}

/**
 * What `accord checkpoints rebind` would do: every partition of the group that does not point into its
 * live log (another cluster or topic incarnation, outside the log, or halted) gets a position in the live
 * log at `from`, bound to its identity. Partitions that are fine are left alone. Nothing changes.
 */
export async function planRebind(
  admin: Admin,
  pool: SqlPool,
  group: string,
  from: StartPosition,
  options: { topic?: string; kafka?: KafkaEndpoint } = {},
): Promise<RebindPlan> {
  const rows = (
    await pipelineLag(admin, pool, { group, ...(options.kafka ? { kafka: options.kafka } : {}) })
  ).filter((r) => options.topic === undefined || r.topic === options.topic);
  if (rows.length === 0)
    throw new AccordError(
      'PIPELINE_INVALID',
      `group "${group}" has no checkpoints${options.topic ? ` on ${options.topic}` : ''}: nothing to rebind`,
    );
  const existing = new Set(await admin.listTopics());
  const partitions: RebindPartitionPlan[] = [];
  for (const topic of [...new Set(rows.filter(needsRebind).map((r) => r.topic))]) {
    if (!existing.has(topic))
      throw new AccordError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist: create it before rebinding`);
    const positions = new Map(
      (await resolvePositions(admin, topic, from)).map((p) => [p.partition, p.offset]),
    );
    const live = await liveRef(admin, topic, options.kafka);
    const { rows: generations } = await pool.query<{ partition: number; generation: number }>(
      'select partition, generation from pipeline_checkpoints where consumer_group = $1 and topic = $2',
      [group, topic],
    );
    for (const r of rows.filter((x) => x.topic === topic && needsRebind(x))) {
      const to = positions.get(r.partition);
      if (to === undefined)
        throw new AccordError(
          'PIPELINE_INVALID',
          `${topic}[${r.partition}] no longer exists (the topic has fewer partitions now)`,
        );
      partitions.push({
        topic,
        partition: r.partition,
        from: r.checkpoint,
        reason: r.haltedReason ?? r.state,
        to,
        saved: r.saved,
        live,
        generation: generations.find((g) => g.partition === r.partition)?.generation ?? 0,
      });
    }
  }
  return { group, from, running: await groupIsRunning(admin, group), partitions };
}

/**
 * Carries out a rebind plan in one transaction: each row moves with a compare-and-set on its generation
 * (bumping it fences an instance still holding the old claim), is bound to the live log and un-halted;
 * the rebind is recorded in pipeline_replays (kind rebind) and running instances are told on the control
 * channel (they claim again, seek and resume). A stopped group's Kafka offsets follow the table.
 */
export async function executeRebind(
  admin: Admin,
  pool: SqlPool,
  plan: RebindPlan,
  requestedBy: string,
): Promise<number> {
  if (plan.partitions.length === 0) throw new AccordError('PIPELINE_INVALID', 'nothing to rebind');
  const id = await inTransaction(pool, async (client) => {
    for (const p of plan.partitions) {
      const { rowCount } = await client.query(
        `update pipeline_checkpoints
            set kafka_offset = $4::bigint, checkpoint_type = 'offset', checkpoint_value = $4::text, updated_at = now(),
                generation = generation + 1, cluster_id = $6, topic_id = $7,
                halted_reason = null, halted_at = null, replay_resume = null, replay_until = null, replay_id = null
          where consumer_group = $1 and topic = $2 and partition = $3 and generation = $5`,
        [plan.group, p.topic, p.partition, p.to, p.generation, p.live.clusterId, p.live.topicId],
      );
      if (rowCount !== 1)
        throw new AccordError(
          'PIPELINE_FENCED',
          `${p.topic}[${p.partition}] of ${plan.group} was claimed while planning the rebind: nothing was changed, run it again`,
        );
    }
    const target = `rebind from ${plan.from instanceof Date ? plan.from.toISOString() : plan.from}`;
    const { rows } = await client.query<{ id: string }>(
      `insert into pipeline_replays (consumer_group, requested_by, target, while_running, plan, kind)
       values ($1, $2, $3, $4, $5, 'rebind') returning id`,
      [plan.group, requestedBy, target, plan.running, JSON.stringify(plan.partitions)],
    );
    const recorded = Number(rows[0]?.id);
    await notifyControl(client, { group: plan.group, action: 'rebind', id: recorded });
    return recorded;
  });
  if (!plan.running)
    await setGroupOffsets(
      admin,
      plan.group,
      plan.partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.to })),
    );
  return id;
}
