import type { SqlClient, SqlPool } from '../infra/sql';

export type CheckpointType = 'offset' | 'timestamp' | 'window';

export interface Claim {
  offset: bigint;
  epoch: number;
  /** Set while replaying: the position before the replay; events below it are replays. */
  replayResume?: bigint;
  /** Set for a bounded replay: where re-processing stops. */
  replayUntil?: bigint;
  /** The replay (pipeline_replays.id) while replaying. */
  replayId?: number;
  /** The log the checkpoint points into; null for rows written before identities were recorded. */
  log: LogRef | null;
  haltedReason: string | null;
}

export interface CheckpointRow {
  pipelineName: string;
  consumerGroup: string;
  topic: string;
  partition: number;
  checkpointType: CheckpointType;
  checkpointValue: string;
  /** The next offset to consume. */
  kafkaOffset: string;
  generation: number;
  updatedAt: Date;
  replayResume: string | null;
  replayUntil: string | null;
  /** The log the checkpoint points into (null: written before identities were recorded). */
  clusterId: string | null;
  topicId: string | null;
  /** Why the pipeline does not process this partition, or null. */
  haltedReason: string | null;
}

/** Which log a checkpoint points into: the cluster id and the topic id (null when it could not be read). */
export interface LogRef {
  clusterId: string;
  topicId: string | null;
}

export type IncidentKind = 'identity-changed' | 'out-of-range' | 'bound' | 'store-lost';

/** Something a pipeline met on a partition and what it did: recorded in pipeline_incidents. */
export interface Incident {
  pipeline: string;
  group: string;
  topic: string;
  partition: number;
  kind: IncidentKind;
  action: 'halted' | 'moved' | 'none';
  checkpoint: string;
  logStart?: string;
  logEnd?: string;
  movedTo?: string;
  lost?: string;
  detail: string;
}

export interface IncidentRow extends Incident {
  id: number;
  detectedAt: Date;
}

type Position = { group: string; topic: string; partition: number; epoch: number };

const COLUMNS = `pipeline_name as "pipelineName", consumer_group as "consumerGroup", topic, partition,
  checkpoint_type as "checkpointType", checkpoint_value as "checkpointValue", kafka_offset::text as "kafkaOffset",
  generation, updated_at as "updatedAt", replay_resume::text as "replayResume", replay_until::text as "replayUntil",
  cluster_id as "clusterId", topic_id as "topicId", halted_reason as "haltedReason"`;

/**
 * pipeline_checkpoints: the source of truth for where each consumer group is, per topic-partition.
 * The `generation` column is a fencing epoch: an instance claims a partition by bumping it, and every
 * later write is a compare-and-set on the epoch it claimed. A consumer that lost the partition in a
 * rebalance still holds the old epoch, so its writes (and, in transactional mode, its effects) fail.
 */
export class CheckpointStore {
  constructor(private readonly pool: SqlPool) {}

  async list(group?: string, topic?: string): Promise<CheckpointRow[]> {
    const { rows } = await this.pool.query<CheckpointRow>(
      `select ${COLUMNS} from pipeline_checkpoints
        where ($1::text is null or consumer_group = $1) and ($2::text is null or topic = $2)
        order by consumer_group, topic, partition`,
      [group ?? null, topic ?? null],
    );
    return rows;
  }

  /** Creates rows that do not exist yet (a new pipeline's starting positions); existing rows are kept. */
  async seed(
    pipeline: string,
    group: string,
    positions: { topic: string; partition: number; offset: string; log?: LogRef }[],
  ): Promise<number> {
    if (positions.length === 0) return 0;
    const rows = positions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      offset: p.offset,
      cluster: p.log?.clusterId ?? null,
      topic_id: p.log?.topicId ?? null,
    }));
    const { rowCount } = await this.pool.query(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_type, checkpoint_value, kafka_offset, generation, cluster_id, topic_id)
       select $1, $2, p.topic, p.partition, 'offset', p."offset", p."offset"::bigint, 0, p.cluster, p.topic_id
         from jsonb_to_recordset($3::jsonb) as p(topic text, partition int, "offset" text, cluster text, topic_id text)
       on conflict (consumer_group, topic, partition) do nothing`,
      [pipeline, group, JSON.stringify(rows)],
    );
    return rowCount ?? 0;
  }

  /** Claims a partition: bumps the epoch and returns it with the position (and any replay) to resume from. */
  async claim(
    pipeline: string,
    group: string,
    topic: string,
    partition: number,
    startOffset: string,
    log: LogRef,
  ): Promise<Claim> {
    const { rows } = await this.pool.query<{
      kafka_offset: string;
      generation: number;
      replay_resume: string | null;
      replay_until: string | null;
      cluster_id: string | null;
      topic_id: string | null;
      halted_reason: string | null;
      replay_id: string | null;
    }>(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_type, checkpoint_value, kafka_offset, generation, cluster_id, topic_id)
       values ($1, $2, $3, $4, 'offset', $5::text, $5::bigint, 1, $6, $7)
       on conflict (consumer_group, topic, partition)
       do update set generation = pipeline_checkpoints.generation + 1, pipeline_name = excluded.pipeline_name
       returning kafka_offset::text, generation, replay_resume::text, replay_until::text, cluster_id, topic_id, halted_reason,
                 replay_id::text`,
      [pipeline, group, topic, partition, startOffset, log.clusterId, log.topicId],
    );
    const row = rows[0];
    if (!row) throw new Error('claim returned no row');
    return {
      offset: BigInt(row.kafka_offset),
      epoch: row.generation,
      log: row.cluster_id === null ? null : { clusterId: row.cluster_id, topicId: row.topic_id },
      haltedReason: row.halted_reason,
      ...(row.replay_resume === null ? {} : { replayResume: BigInt(row.replay_resume) }),
      ...(row.replay_until === null ? {} : { replayUntil: BigInt(row.replay_until) }),
      ...(row.replay_resume === null || row.replay_id === null ? {} : { replayId: Number(row.replay_id) }),
    };
  }

  /** Moves the checkpoint if (and only if) `epoch` is still the partition's epoch. Past a replay's end, clears it. */
  async advance(
    client: SqlPool | SqlClient,
    position: { group: string; topic: string; partition: number; epoch: number },
    next: bigint,
    type: CheckpointType,
    value: string,
  ): Promise<boolean> {
    const { rowCount } = await client.query(
      `update pipeline_checkpoints
          set kafka_offset = $5::bigint, checkpoint_type = $6, checkpoint_value = $7, updated_at = now(),
              replay_until = case when replay_resume <= $5::bigint then null else replay_until end,
              replay_id = case when replay_resume <= $5::bigint then null else replay_id end,
              replay_resume = case when replay_resume <= $5::bigint then null else replay_resume end
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, next.toString(), type, value],
    );
    return rowCount === 1;
  }

  /**
   * advance() for several partitions of one group in one statement (deferred checkpoints: checkpoint-writer.ts).
   * Returns the `topic:partition` keys that moved; a missing key was refused by its epoch.
   */
  async advanceMany(
    group: string,
    moves: {
      topic: string;
      partition: number;
      epoch: number;
      next: bigint;
      type: CheckpointType;
      value: string;
    }[],
  ): Promise<Set<string>> {
    if (moves.length === 0) return new Set();
    const { rows } = await this.pool.query<{ topic: string; partition: number }>(
      `update pipeline_checkpoints c
          set kafka_offset = v.next, checkpoint_type = v.type, checkpoint_value = v.value, updated_at = now(),
              replay_until = case when c.replay_resume <= v.next then null else c.replay_until end,
              replay_id = case when c.replay_resume <= v.next then null else c.replay_id end,
              replay_resume = case when c.replay_resume <= v.next then null else c.replay_resume end
         from unnest($2::text[], $3::int[], $4::int[], $5::bigint[], $6::text[], $7::text[])
              as v(topic, partition, epoch, next, type, value)
        where c.consumer_group = $1 and c.topic = v.topic and c.partition = v.partition and c.generation = v.epoch
        returning c.topic, c.partition`,
      [
        group,
        moves.map((m) => m.topic),
        moves.map((m) => m.partition),
        moves.map((m) => m.epoch),
        moves.map((m) => m.next.toString()),
        moves.map((m) => m.type),
        moves.map((m) => m.value),
      ],
    );
    return new Set(rows.map((r) => `${r.topic}:${r.partition}`));
  }

  /** Records the log identity of a checkpoint that had none (compare-and-set on the epoch). */
  async bind(position: Position, log: LogRef): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update pipeline_checkpoints set cluster_id = $5, topic_id = $6
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, log.clusterId, log.topicId],
    );
    return rowCount === 1;
  }

  /** Marks a partition halted (reason) or running again (null). Returns the reason it had before. */
  async setHalted(
    position: Position,
    reason: string | null,
  ): Promise<{ updated: boolean; before: string | null }> {
    const { rows } = await this.pool.query<{ before: string | null }>(
      `update pipeline_checkpoints c
          set halted_reason = $5, halted_at = case when $5::text is null then null else coalesce(c.halted_at, now()) end
         from (select halted_reason as before from pipeline_checkpoints
                where consumer_group = $1 and topic = $2 and partition = $3) old
        where c.consumer_group = $1 and c.topic = $2 and c.partition = $3 and c.generation = $4
        returning old.before`,
      [position.group, position.topic, position.partition, position.epoch, reason],
    );
    return { updated: rows.length === 1, before: rows[0]?.before ?? null };
  }

  /** Moves a checkpoint that fell outside the log, by the pipeline's policy (compare-and-set on the epoch). */
  async moveOutOfRange(position: Position, to: bigint): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update pipeline_checkpoints
          set kafka_offset = $5::bigint, checkpoint_type = 'offset', checkpoint_value = $5::text, updated_at = now(),
              halted_reason = null, halted_at = null, replay_resume = null, replay_until = null, replay_id = null
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, to.toString()],
    );
    return rowCount === 1;
  }

  async recordIncident(incident: Incident): Promise<void> {
    await this.pool.query(
      `insert into pipeline_incidents (pipeline_name, consumer_group, topic, partition, kind, action, checkpoint,
         log_start, log_end, moved_to, lost, detail)
       values ($1, $2, $3, $4, $5, $6, $7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::bigint, $12)`,
      [
        incident.pipeline,
        incident.group,
        incident.topic,
        incident.partition,
        incident.kind,
        incident.action,
        incident.checkpoint,
        incident.logStart ?? null,
        incident.logEnd ?? null,
        incident.movedTo ?? null,
        incident.lost ?? null,
        incident.detail,
      ],
    );
  }

  async incidents(group?: string, limit = 50): Promise<IncidentRow[]> {
    const { rows } = await this.pool.query<IncidentRow>(
      `select id::int as id, pipeline_name as pipeline, consumer_group as "group", topic, partition, kind, action,
              checkpoint::text as checkpoint, log_start::text as "logStart", log_end::text as "logEnd",
              moved_to::text as "movedTo", lost::text as lost, detail, detected_at as "detectedAt"
         from pipeline_incidents where ($1::text is null or consumer_group = $1)
        order by id desc limit $2`,
      [group ?? null, limit],
    );
    return rows.reverse();
  }

  /** Ends a bounded replay: jumps to the position it resumes from (compare-and-set on the epoch). */
  async endReplay(
    position: { group: string; topic: string; partition: number; epoch: number },
    resume: bigint,
  ): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update pipeline_checkpoints
          set kafka_offset = $5::bigint, checkpoint_type = 'offset', checkpoint_value = $5::text, updated_at = now(),
              replay_resume = null, replay_until = null, replay_id = null
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, resume.toString()],
    );
    return rowCount === 1;
  }
}
