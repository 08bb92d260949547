import type { Pool, PoolClient } from 'pg';

export type CheckpointType = 'offset' | 'timestamp' | 'window';

export interface Claim {
  offset: bigint;
  epoch: number;
  /** Set while replaying: the position before the replay; events below it are replays. */
  replayResume?: bigint;
  /** Set for a bounded replay: where re-processing stops. */
  replayUntil?: bigint;
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
}

const COLUMNS = `pipeline_name as "pipelineName", consumer_group as "consumerGroup", topic, partition,
  checkpoint_type as "checkpointType", checkpoint_value as "checkpointValue", kafka_offset::text as "kafkaOffset",
  generation, updated_at as "updatedAt", replay_resume::text as "replayResume", replay_until::text as "replayUntil"`;

/**
 * pipeline_checkpoints: the source of truth for where each consumer group is, per topic-partition.
 * The `generation` column is a fencing epoch: an instance claims a partition by bumping it, and every
 * later write is a compare-and-set on the epoch it claimed. A consumer that lost the partition in a
 * rebalance still holds the old epoch, so its writes (and, in transactional mode, its effects) fail.
 */
export class CheckpointStore {
  constructor(private readonly pool: Pool) {}

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
    positions: { topic: string; partition: number; offset: string }[],
  ): Promise<number> {
    if (positions.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_type, checkpoint_value, kafka_offset, generation)
       select $1, $2, p.topic, p.partition, 'offset', p."offset", p."offset"::bigint, 0
         from jsonb_to_recordset($3::jsonb) as p(topic text, partition int, "offset" text)
       on conflict (consumer_group, topic, partition) do nothing`,
      [pipeline, group, JSON.stringify(positions)],
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
  ): Promise<Claim> {
    const { rows } = await this.pool.query<{
      kafka_offset: string;
      generation: number;
      replay_resume: string | null;
      replay_until: string | null;
    }>(
      `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_type, checkpoint_value, kafka_offset, generation)
       values ($1, $2, $3, $4, 'offset', $5::text, $6::bigint, 1)
       on conflict (consumer_group, topic, partition)
       do update set generation = pipeline_checkpoints.generation + 1, pipeline_name = excluded.pipeline_name
       returning kafka_offset::text, generation, replay_resume::text, replay_until::text`,
      [pipeline, group, topic, partition, startOffset, startOffset],
    );
    const row = rows[0];
    if (!row) throw new Error('claim returned no row');
    return {
      offset: BigInt(row.kafka_offset),
      epoch: row.generation,
      ...(row.replay_resume === null ? {} : { replayResume: BigInt(row.replay_resume) }),
      ...(row.replay_until === null ? {} : { replayUntil: BigInt(row.replay_until) }),
    };
  }

  /** Moves the checkpoint if (and only if) `epoch` is still the partition's epoch. Past a replay's end, clears it. */
  async advance(
    client: Pool | PoolClient,
    position: { group: string; topic: string; partition: number; epoch: number },
    next: bigint,
    type: CheckpointType,
    value: string,
  ): Promise<boolean> {
    const { rowCount } = await client.query(
      `update pipeline_checkpoints
          set kafka_offset = $5::bigint, checkpoint_type = $6, checkpoint_value = $7, updated_at = now(),
              replay_until = case when replay_resume <= $5::bigint then null else replay_until end,
              replay_resume = case when replay_resume <= $5::bigint then null else replay_resume end
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, next.toString(), type, value],
    );
    return rowCount === 1;
  }

  /** Ends a bounded replay: jumps to the position it resumes from (compare-and-set on the epoch). */
  async endReplay(
    position: { group: string; topic: string; partition: number; epoch: number },
    resume: bigint,
  ): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update pipeline_checkpoints
          set kafka_offset = $5::bigint, checkpoint_type = 'offset', checkpoint_value = $5::text, updated_at = now(),
              replay_resume = null, replay_until = null
        where consumer_group = $1 and topic = $2 and partition = $3 and generation = $4`,
      [position.group, position.topic, position.partition, position.epoch, resume.toString()],
    );
    return rowCount === 1;
  }
}
