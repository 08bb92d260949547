import type { ResolvedConfig } from '../config';
import type { SomeCatalog } from '../events/catalog';
import type { SqlClient, SqlPool } from '../infra/sql';
import type { AvroSerde } from '../schemas/serde';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import type { CheckpointType } from './checkpoints';
import type { OutOfRangePolicy } from './log-check';
import type { WindowOptions } from './windows';

/** The types a pipeline's author and its runtime share. */

export type PipelineMode = 'at-least-once' | 'transactional';

export interface PipelineEvent {
  topic: string;
  partition: number;
  offset: string;
  /** Decoded on first read (a getter, as headers). */
  key: string | null;
  /** Kafka record timestamp (ms since epoch, as a string, as kafkajs gives it). */
  timestamp: string;
  /** Converted on first read (a getter: `{ ...event }` does not carry it; copy it by name). */
  headers: Record<string, string>;
  raw: Buffer | null;
  /** The decoded Avro value (null for a tombstone, or when `decode: false`). */
  value: Record<string, unknown> | null;
  schemaId?: number;
  schemaName?: string;
}

export interface HandlerContext {
  pipeline: string;
  group: string;
  /** True while re-processing events after a replay: skip external side effects. */
  replay: boolean;
  /** While replaying: the replay's id (pipeline_replays.id), the same across restarts and rebalances. */
  replayId?: number;
  /**
   * The log the event comes from (its topic id, or the cluster id when topic ids cannot be read): offsets
   * only compare within one log, so state that remembers offsets (dedupe watermarks) keys them by it.
   */
  logId: string;
  /** 1 on the first try. */
  attempt: number;
  /** transactional mode: the transaction the checkpoint commits in. Write with it. */
  tx?: SqlClient;
  /** The chunk these events are handled in: what afterChunk is given when the chunk ends. */
  chunk: ChunkPass;
}

/**
 * One pass over a chunk: a fresh object each time a chunk is handled (state kept for afterChunk can be keyed
 * on it; a pass that failed is never seen again).
 */
export interface ChunkPass {
  topic: string;
  partition: number;
  /** transactional mode: the chunk's transaction. */
  tx?: SqlClient;
  /**
   * transactional mode: the chunk's first pass, which runs without savepoints: a handler may leave its writes
   * to afterChunk (one round trip for the chunk). A failure there rolls the chunk back and runs it again
   * event by event with savepoints (deferrable false: write at once, so one bad event keeps no one's writes).
   */
  deferrable: boolean;
}

export type PipelineHandler = (event: PipelineEvent, ctx: HandlerContext) => Promise<void> | void;

export interface PipelineOptions {
  /** The pipeline's name (checkpoints and dead letters carry it). */
  name: string;
  /** Consumer group; default: the name. */
  group?: string;
  /**
   * Topics, or a pattern. A pattern is matched against the topics that exist at start and again every
   * `topicRefreshMs`: topics created later are picked up without a restart, from their first event.
   */
  topics: string[] | RegExp;
  /** How often a pattern subscription looks for new topics. Default 10 s (1 s in test mode). */
  topicRefreshMs?: number;
  /**
   * A checkpoint outside the log (retention deleted unprocessed events, or the log was truncated):
   * 'fail' halts the partition until an operator rebinds it; 'earliest' moves to the first offset still
   * there. Either way it is recorded in pipeline_incidents and logged. Default: fail for transactional
   * pipelines, earliest for at-least-once.
   */
  onOutOfRange?: OutOfRangePolicy;
  /** Called for each event. Optional for windowed pipelines (the window folds events). */
  handler?: PipelineHandler;
  /**
   * A windowed pipeline: events fold into tumbling event-time windows and the checkpoint (type `window`)
   * moves only when a window closes, so the pipeline resumes after its last closed window. See windows.ts.
   */
  window?: WindowOptions<unknown>;
  /** Default at-least-once. */
  mode?: PipelineMode;
  /** Where a partition without a checkpoint starts. Default earliest. */
  from?: 'earliest' | 'latest';
  /** Checkpoint type: what the checkpoint value records besides the offset. Default offset. */
  checkpoint?: Exclude<CheckpointType, 'window'>;
  config?: ResolvedConfig;
  /** Postgres for checkpoints (and the transaction in transactional mode). Default: DATABASE_URL. */
  pool?: SqlPool;
  serde?: AvroSerde;
  /** The domain's catalog: old events are decoded to its current shape of their schema. Default: platform records. */
  catalog?: SomeCatalog;
  /** Decode Avro values (default true). Records that cannot be decoded are dead-lettered. */
  decode?: boolean;
  /** Tries per event before dead-lettering a retriable failure. Default 3. */
  maxAttempts?: number;
  /** First retry delay; doubles each try. Default 200 ms. */
  retryBackoffMs?: number;
  /** Events per transaction (transactional, default 500) or per checkpoint (at-least-once, default 2000). */
  chunkSize?: number;
  /**
   * At-least-once only: write checkpoints every this many ms (all partitions in one statement) instead of
   * after every chunk; the position moves in memory at once. A crash re-processes at most this interval's
   * events; pending positions are written before a claim, a replay's end, a pause and a stop. Default 0
   * (every chunk). Feature pipelines use 250: per-batch writes were most of a feature's staleness.
   */
  checkpointEveryMs?: number;
  /**
   * At-least-once only: events of different keys (entities) handled at once within a partition, each
   * key's still in order; at most this many at once (default 1: one event at a time). For handlers that
   * wait (a decision, a model call): one at a time capped a partition at a few hundred events/s. A
   * checkpoint waits for every event before it; a failure stops the batch after those started end.
   */
  keyConcurrency?: number;
  /**
   * Partitions handled at once, each still in order (kafkajs partitionsConsumedConcurrently). Default 1.
   * More than one needs a pool with as many free connections in transactional mode (a chunk holds one) and
   * an afterChunk that flushes only its own partition's writes, or none.
   */
  partitionsAtOnce?: number;
  /**
   * Bytes one fetch may bring, all partitions together (default: the config's, ACCORD_FETCH_MAX_BYTES, 4 MiB;
   * at least 1024). A backlog is read in
   * slices of this size, so what the process holds does not grow with it; a record larger than this is
   * still fetched whole (Kafka returns at least one record).
   */
  fetchMaxBytes?: number;
  /** Called after each chunk's events were handled, before its checkpoint moves (e.g. to flush buffered writes). */
  afterChunk?: (chunk: ChunkPass) => Promise<void>;
  /**
   * Structured log lines of the pipeline (incidents, dead letters, consumer crashes, new topics), bound
   * with its name and group. Default: the process's logger (stderr, ACCORD_LOG_LEVEL).
   */
  logger?: Logger;
  /**
   * The seam for logs, metrics and tracing: lifecycle events (attempt.end, dead-lettered, checkpointed,
   * fenced, incident, consumer.crashed) and interceptors around the handler. Default: none.
   */
  telemetry?: Telemetry;
}

/** What the instance holding a partition knows about it (runtime only). */
export interface PartitionState {
  epoch: number;
  next: bigint;
  logId: string;
  /** While replaying: the position before the replay (events below it are replays). */
  replayResume?: bigint;
  /** A bounded replay stops re-processing here and jumps to replayResume. */
  replayUntil?: bigint;
  replayId?: number;
  /**
   * Windowed pipelines: the offset after the last event folded into the open window. The window holds
   * [next, folded): Kafka fetching again from the checkpoint (a consumer restart) folds nothing twice.
   */
  folded?: bigint;
}

/** Header on a dead letter sent back by `accord dlq replay`: only that group processes it again. */
export const DLQ_REPLAY_HEADER = 'accord-dlq-replay-for';
