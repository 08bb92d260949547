import type { Admin, Consumer, EachBatchPayload, IHeaders, KafkaMessage, Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import { type ResolvedConfig, resolveConfig } from '../config';
import { AccordError, describeError } from '../errors';
import { HEADERS } from '../events/publisher';
import { deadLetterTopic } from '../events/topics';
import { consumerTimings, createKafka, createPgPool } from '../infra/clients';
import { AvroSerde } from '../schemas/serde';
import type { DeadLetter } from '../schemas/types.generated';
import { CheckpointStore, type CheckpointType, type Incident } from './checkpoints';
import { subscribeControl } from './control';
import { classifyFailure, errorCodeOf, FencedError } from './errors';
import { PartitionGuard } from './guard';
import type { OutOfRangePolicy } from './log-check';
import { groupIsRunning, resolvePositions } from './positions';
import { type ClosedWindow, defineWindow, type WindowOptions, WindowTracker, windowValue } from './windows';

export type PipelineMode = 'at-least-once' | 'transactional';

export interface PipelineEvent {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** Kafka record timestamp (ms since epoch, as a string, as kafkajs gives it). */
  timestamp: string;
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
  /** 1 on the first try. */
  attempt: number;
  /** transactional mode: the transaction the checkpoint commits in. Write with it. */
  tx?: PoolClient;
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
  /** Called for each incident (identity changed, out of range, bound) after it is recorded. Default: one stderr line. */
  onIncident?: (incident: Incident) => void;
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
  pool?: Pool;
  serde?: AvroSerde;
  /** Decode Avro values (default true). Records that cannot be decoded are dead-lettered. */
  decode?: boolean;
  /** Tries per event before dead-lettering a retriable failure. Default 3. */
  maxAttempts?: number;
  /** First retry delay; doubles each try. Default 200 ms. */
  retryBackoffMs?: number;
  /** Events per transaction (transactional, default 500) or per checkpoint (at-least-once, default 2000). */
  chunkSize?: number;
  /** Called for events sent to the dead-letter topic (for logs and metrics). */
  onDeadLetter?: (event: PipelineEvent, error: unknown) => void;
  /** Called after each chunk's events were handled, before its checkpoint moves (e.g. to flush buffered writes). */
  afterChunk?: () => Promise<void>;
  /** Called when the consumer crashes on an infrastructure failure (it restarts and resumes from the checkpoint). */
  onError?: (error: unknown) => void;
}

interface PartitionState {
  epoch: number;
  next: bigint;
  /** While replaying: the position before the replay (events below it are replays). */
  replayResume?: bigint;
  /** A bounded replay stops re-processing here and jumps to replayResume. */
  replayUntil?: bigint;
  replayId?: number;
}

/** Header on a dead letter sent back by `accord dlq replay`: only that group processes it again. */
export const DLQ_REPLAY_HEADER = 'accord-dlq-replay-for';

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Events sent back by `accord dlq replay`, and the group they are meant for. */
const dlqReplayFor = new WeakMap<PipelineEvent, string>();

/** Internal: a transactional chunk's fast pass hit a failure; run it again event by event. */
class SlowPath extends Error {}

/**
 * A pipeline: a named consumer group whose position lives in pipeline_checkpoints and is mirrored to
 * Kafka's committed offsets. Per-partition order; at-least-once (process, then checkpoint) or
 * transactional (the handler's writes and the checkpoint commit in one Postgres transaction).
 */
export class Pipeline {
  readonly name: string;
  readonly group: string;
  readonly mode: PipelineMode;
  private readonly config: ResolvedConfig;
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly store: CheckpointStore;
  private readonly serde: AvroSerde | undefined;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private dlqProducer: Producer | undefined;
  private dlqReady = false;
  private readonly partitions = new Map<string, PartitionState>();
  private assignment: Record<string, number[]> = {};
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly guard: PartitionGuard;
  private readonly windows: WindowTracker | undefined;
  /** Partitions this instance paused because they cannot proceed (topic:partition). */
  private readonly halted = new Set<string>();
  private subscribed: string[] = [];
  private topicWatch: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  /** Counters for tests, status and benchmarks. */
  readonly stats = { processed: 0, deadLettered: 0, fenced: 0, batches: 0, incidents: 0, halted: 0 };

  constructor(private readonly options: PipelineOptions) {
    if (!options.name || !/^[A-Za-z0-9._-]{1,200}$/.test(options.name)) {
      throw new AccordError(
        'PIPELINE_INVALID',
        `option name must be 1-200 characters of letters, digits, '.', '_' or '-', got "${options.name}"`,
      );
    }
    if (options.window !== undefined) this.windows = new WindowTracker(defineWindow(options.window));
    if (typeof options.handler !== 'function' && !this.windows)
      throw new AccordError('PIPELINE_INVALID', 'option handler must be a function (or give option window)');
    if (
      !(options.topics instanceof RegExp) &&
      (!Array.isArray(options.topics) || options.topics.length === 0)
    ) {
      throw new AccordError(
        'PIPELINE_INVALID',
        'option topics must be a non-empty array of topic names or a RegExp',
      );
    }
    const mode = options.mode ?? 'at-least-once';
    if (mode !== 'at-least-once' && mode !== 'transactional') {
      throw new AccordError(
        'PIPELINE_INVALID',
        `option mode must be 'at-least-once' or 'transactional', got "${String(mode)}"`,
      );
    }
    const policy = options.onOutOfRange ?? (mode === 'transactional' ? 'fail' : 'earliest');
    if (policy !== 'fail' && policy !== 'earliest') {
      throw new AccordError(
        'PIPELINE_INVALID',
        `option onOutOfRange must be 'fail' or 'earliest', got "${String(policy)}"`,
      );
    }
    this.name = options.name;
    this.group = options.group ?? options.name;
    this.mode = mode;
    this.config = options.config ?? resolveConfig();
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createPgPool(this.config.postgres.url, { max: 4 });
    this.store = new CheckpointStore(this.pool);
    this.guard = new PartitionGuard({
      admin: () => this.admin!,
      store: this.store,
      brokers: this.config.kafka.brokers,
      pipeline: this.name,
      group: this.group,
      policy,
      report: (incident) => {
        this.stats.incidents++;
        if (options.onIncident) options.onIncident(incident);
        else
          process.stderr.write(
            `accord pipeline ${this.name}: ${incident.topic}[${incident.partition}] ${incident.detail}\n`,
          );
      },
    });
    this.serde =
      options.decode === false
        ? undefined
        : (options.serde ?? new AvroSerde({ registryUrl: this.config.schemaRegistry.url }));
  }

  /** Joins the group and starts consuming. Resolves once the consumer runs. */
  async start(): Promise<void> {
    this.admin = createKafka(this.config).admin();
    await this.admin.connect();
    const topics = await this.resolveTopics();
    await this.preparePositions(topics);
    await this.listen();
    await this.runConsumer(topics);
    if (this.options.topics instanceof RegExp) {
      const every = this.options.topicRefreshMs ?? (this.config.testMode ? 1000 : 10000);
      this.topicWatch = setInterval(() => {
        this.restarting ??= this.watchTopics()
          .catch((error: unknown) => this.options.onError?.(error))
          .finally(() => {
            this.restarting = undefined;
          });
      }, every);
      this.topicWatch.unref();
    }
  }

  /**
   * kafkajs resolves a RegExp subscription once: when topics matching the pattern appear, the consumer is
   * restarted on the new list, and their partitions start at their earliest offset.
   */
  private async watchTopics(): Promise<void> {
    if (this.stopping) return;
    const topics = await this.resolveTopics();
    const added = topics.filter((t) => !this.subscribed.includes(t));
    if (added.length === 0) return;
    for (const topic of added) {
      const log = await this.guard.liveRef(topic);
      const offsets = await this.admin!.fetchTopicOffsets(topic);
      await this.store.seed(
        this.name,
        this.group,
        offsets.map((o) => ({ topic, partition: o.partition, offset: o.low, log })),
      );
    }
    process.stderr.write(
      `accord pipeline ${this.name}: new topic(s) ${added.join(', ')} match the subscription; rejoining the group\n`,
    );
    await this.consumer?.disconnect();
    if (this.stopping) return;
    this.partitions.clear();
    await this.preparePositions(topics);
    await this.runConsumer(topics);
  }

  private async runConsumer(topics: string[]): Promise<void> {
    const kafka = createKafka(this.config);
    const consumer = kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
      ...consumerTimings(this.config),
    });
    this.consumer = consumer;
    // A rebalance invalidates every claim: partitions are claimed again (new epoch) on their next batch.
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.partitions.clear();
      this.assignment = event.payload.memberAssignment;
    });
    consumer.on(consumer.events.CRASH, (event) => this.options.onError?.(event.payload.error));
    await consumer.connect();
    // fromBeginning: a fetch that meets OFFSET_OUT_OF_RANGE resets to the earliest offset, which the
    // claim's checks then see as a gap (never a silent jump to the log end).
    await consumer.subscribe({ topics, fromBeginning: true });
    this.subscribed = topics;
    this.halted.clear();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** The control channel: a replay or rebind moved the checkpoints (and fenced us); re-read them and seek. */
  private async listen(): Promise<void> {
    this.unsubscribe = await subscribeControl(this.pool, (message) => {
      if (message.group === this.group)
        this.applyControl().catch((error: unknown) => this.options.onError?.(error));
    });
  }

  /** An operator moved the checkpoints (replay) or rebound them: claim again, seek, resume what was halted. */
  private async applyControl(): Promise<void> {
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      const rows = await this.store.list(this.group, topic);
      for (const partition of partitions) {
        const key = `${topic}:${partition}`;
        const row = rows.find((r) => r.partition === partition);
        this.partitions.delete(key);
        if (row) this.consumer?.seek({ topic, partition, offset: row.kafkaOffset });
        if (this.halted.delete(key)) {
          this.stats.halted = this.halted.size;
          this.consumer?.resume([{ topic, partitions: [partition] }]);
        }
      }
    }
  }

  private async resolveTopics(): Promise<string[]> {
    if (!(this.options.topics instanceof RegExp)) return this.options.topics;
    const pattern = this.options.topics;
    const all = await this.admin!.listTopics();
    return all.filter((t) => pattern.test(t) && !t.startsWith('__')).sort();
  }

  /**
   * Before joining: partitions without a checkpoint get one at `from` (earliest or latest), and while
   * the group is empty Kafka's committed offsets are set to the checkpoints, so the first fetch starts
   * at the right place (the table stays the source of truth either way: see onBatch).
   */
  private async preparePositions(topics: string[]): Promise<void> {
    const admin = this.admin!;
    const existing = await this.store.list(this.group);
    const known = new Set(existing.map((r) => `${r.topic}:${r.partition}`));
    const offsets = new Map<string, Awaited<ReturnType<Admin['fetchTopicOffsets']>>>();
    for (const topic of topics) offsets.set(topic, await admin.fetchTopicOffsets(topic));
    const seeds = [];
    for (const topic of topics) {
      const fresh = (offsets.get(topic) ?? []).filter((o) => !known.has(`${topic}:${o.partition}`));
      if (fresh.length === 0) continue;
      const log = await this.guard.liveRef(topic);
      for (const o of fresh)
        seeds.push({
          topic,
          partition: o.partition,
          offset: this.options.from === 'latest' ? o.high : o.low,
          log,
        });
    }
    await this.store.seed(this.name, this.group, seeds);
    // Rows that are halted are not pushed into Kafka's offsets: the claim decides what happens to them.
    const rows = (await this.store.list(this.group)).filter((r) => r.haltedReason === null);
    // With live (or not yet expired) members, setOffsets would wait on a rebalance: leave positions to
    // onBatch, which aligns every partition with its checkpoint anyway.
    if (await groupIsRunning(admin, this.group)) return;
    for (const topic of topics) {
      const partitions = rows
        .filter((r) => r.topic === topic)
        .map((r) => ({ partition: r.partition, offset: r.kafkaOffset }));
      if (partitions.length === 0) continue;
      // setOffsets joins the group (slow): only when Kafka's committed offsets differ from the checkpoints.
      const [committed] = await admin.fetchOffsets({ groupId: this.group, topics: [topic] });
      const low = new Map((offsets.get(topic) ?? []).map((o) => [o.partition, o.low]));
      const inLine = partitions.every((p) => {
        const c = committed?.partitions.find((x) => x.partition === p.partition)?.offset ?? '-1';
        return c === p.offset || (c === '-1' && p.offset === low.get(p.partition));
      });
      if (inLine) continue;
      try {
        await admin.setOffsets({ groupId: this.group, topic, partitions });
      } catch {
        // The group has live members (other instances): they hold the right positions already.
      }
    }
  }

  /**
   * Claims a partition (a new epoch fences the previous holder) and checks that its checkpoint points
   * into this log. Undefined when the partition cannot proceed (halted: paused until an operator acts)
   * or another instance claimed it meanwhile.
   */
  private async claim(topic: string, partition: number): Promise<PartitionState | undefined> {
    const positions = await resolvePositions(this.admin!, topic, this.options.from ?? 'earliest');
    const start = positions.find((p) => p.partition === partition)?.offset ?? '0';
    const log = await this.guard.liveRef(topic);
    const claim = await this.store.claim(this.name, this.group, topic, partition, start, log);
    // A window is folded again from the checkpoint (its first event) by whoever holds the partition now.
    this.windows?.drop(topic, partition);
    const checked = await this.guard.check(topic, partition, claim);
    if (checked.kind === 'fenced') return undefined;
    if (checked.kind === 'halted') {
      this.halted.add(`${topic}:${partition}`);
      this.stats.halted = this.halted.size;
      this.consumer?.pause([{ topic, partitions: [partition] }]);
      return undefined;
    }
    return {
      epoch: claim.epoch,
      next: checked.next,
      ...(claim.replayResume === undefined ? {} : { replayResume: claim.replayResume }),
      ...(claim.replayUntil === undefined ? {} : { replayUntil: claim.replayUntil }),
      ...(claim.replayId === undefined ? {} : { replayId: claim.replayId }),
    };
  }

  private async onBatch({
    batch,
    heartbeat,
    isRunning,
    isStale,
    commitOffsetsIfNecessary,
  }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    if (this.halted.has(key)) return;
    let state = this.partitions.get(key);
    const claimedNow = !state;
    if (!state) {
      state = await this.claim(topic, partition);
      if (!state) return;
      this.partitions.set(key, state);
    }
    const first = batch.messages[0];
    if (!first) return;
    const last = batch.messages[batch.messages.length - 1];
    if (BigInt(first.offset) > state.next || (last && BigInt(last.offset) < state.next)) {
      // Kafka's position differs from the checkpoint (the table was moved back by a replay, the mirror
      // lagged behind when a consumer died, or the fetch met OFFSET_OUT_OF_RANGE and kafkajs reset it):
      // go to the checkpoint, the source of truth, after checking again that it is still in the log.
      if (!claimedNow) {
        this.partitions.delete(key);
        state = await this.claim(topic, partition);
        if (!state) return;
        this.partitions.set(key, state);
      }
      this.consumer!.seek({ topic, partition, offset: state.next.toString() });
      return;
    }
    let messages =
      BigInt(first.offset) === state.next
        ? batch.messages
        : batch.messages.filter((m) => BigInt(m.offset) >= state.next);
    if (
      state.replayUntil !== undefined &&
      state.replayResume !== undefined &&
      state.replayUntil < state.replayResume
    ) {
      // A bounded replay: re-process up to replayUntil, then jump back to where the pipeline was.
      const until = state.replayUntil;
      messages = messages.filter((m) => BigInt(m.offset) < until);
      if (messages.length === 0 && state.next >= until) {
        const resume = state.replayResume;
        const ended = await this.store.endReplay(
          { group: this.group, topic, partition, epoch: state.epoch },
          resume,
        );
        if (!ended) {
          this.partitions.delete(key);
          return;
        }
        state.next = resume;
        delete state.replayResume;
        delete state.replayUntil;
        delete state.replayId;
        this.consumer!.seek({ topic, partition, offset: resume.toString() });
        return;
      }
    }
    if (messages.length === 0) return;
    this.stats.batches++;
    try {
      if (this.windows)
        await this.runWindowed(topic, partition, state, messages, isRunning, isStale, heartbeat);
      else if (this.mode === 'transactional')
        await this.runTransactional(topic, partition, state, messages, isRunning, isStale, heartbeat);
      else await this.runAtLeastOnce(topic, partition, state, messages, isRunning, isStale, heartbeat);
    } catch (error) {
      if (error instanceof FencedError) {
        this.stats.fenced++;
        this.partitions.delete(key);
        return;
      }
      throw error;
    }
    await heartbeat();
    await commitOffsetsIfNecessary();
  }

  private async handle(event: PipelineEvent, ctx: HandlerContext): Promise<void> {
    if (this.options.handler) await this.options.handler(event, ctx);
    this.windows?.add(event);
  }

  private replayContext(state: PartitionState, m: KafkaMessage): { replay: boolean; replayId?: number } {
    const replay = state.replayResume !== undefined && BigInt(m.offset) < state.replayResume;
    return replay && state.replayId !== undefined ? { replay, replayId: state.replayId } : { replay };
  }

  private toEvent(topic: string, partition: number, m: KafkaMessage): PipelineEvent {
    let headers: Record<string, string> | undefined;
    const event: PipelineEvent = {
      topic,
      partition,
      offset: m.offset,
      key: m.key ? m.key.toString() : null,
      timestamp: m.timestamp,
      // Converted on first use: most handlers never read headers.
      get headers() {
        headers ??= headersOf(m.headers);
        return headers;
      },
      raw: m.value,
      value: null,
    };
    const replayFor = m.headers?.[DLQ_REPLAY_HEADER];
    if (replayFor !== undefined) dlqReplayFor.set(event, String(replayFor));
    return event;
  }

  /**
   * Decodes and runs the handler, retrying by error type, dead-lettering what cannot succeed. With `fast`
   * (transactional first pass, no savepoints), any failure throws SlowPath instead: the chunk is rolled
   * back and run again event by event with savepoints, so one bad event never keeps another's writes.
   */
  private async process(
    event: PipelineEvent,
    ctx: Omit<HandlerContext, 'attempt'>,
    savepoint?: PoolClient,
    fast = false,
  ): Promise<void> {
    const replayFor = dlqReplayFor.get(event);
    if (replayFor !== undefined && replayFor !== this.group) return; // another group's dead letter, sent back
    if (this.serde && event.raw) {
      try {
        const decoded = await this.serde.decode(event.raw);
        event.value = decoded.value;
        event.schemaId = decoded.schemaId;
        event.schemaName = decoded.schemaName;
      } catch (error) {
        if (error instanceof AccordError && error.retriable) throw error; // registry down: stop, retry the batch
        if (fast) throw new SlowPath();
        await this.deadLetter(event, error, 1);
        return;
      }
    }
    if (fast) {
      try {
        await this.handle(event, { ...ctx, attempt: 1 });
      } catch {
        throw new SlowPath();
      }
      this.stats.processed++;
      return;
    }
    const maxAttempts = this.options.maxAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        if (savepoint) await savepoint.query('savepoint accord_event');
        await this.handle(event, { ...ctx, attempt });
        if (savepoint) await savepoint.query('release savepoint accord_event');
        this.stats.processed++;
        return;
      } catch (error) {
        if (savepoint) await savepoint.query('rollback to savepoint accord_event');
        if (classifyFailure(error, attempt, maxAttempts) === 'dead-letter') {
          await this.deadLetter(event, error, attempt);
          return;
        }
        await delay((this.options.retryBackoffMs ?? 200) * 2 ** (attempt - 1));
      }
    }
  }

  private checkpointValue(m: KafkaMessage): [CheckpointType, string] {
    return this.options.checkpoint === 'timestamp'
      ? ['timestamp', new Date(Number(m.timestamp)).toISOString()]
      : ['offset', m.offset];
  }

  /** Each chunk of the batch is one transaction: the handler's writes and the checkpoint commit together. */
  private async runTransactional(
    topic: string,
    partition: number,
    state: PartitionState,
    messages: KafkaMessage[],
    isRunning: () => boolean,
    isStale: () => boolean,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const chunkSize = this.options.chunkSize ?? 500;
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(i, i + chunkSize);
      const runChunk = async (fast: boolean): Promise<bigint | undefined> => {
        const client = await this.pool.connect();
        try {
          await client.query('begin');
          let last: KafkaMessage | undefined;
          for (const m of chunk) {
            if (!isRunning() || isStale()) break;
            const ctx = {
              pipeline: this.name,
              group: this.group,
              ...this.replayContext(state, m),
              tx: client,
            };
            await this.process(this.toEvent(topic, partition, m), ctx, fast ? undefined : client, fast);
            last = m;
          }
          if (!last) {
            await client.query('rollback');
            return undefined;
          }
          await this.options.afterChunk?.();
          const next = BigInt(last.offset) + 1n;
          const [type, value] = this.checkpointValue(last);
          const position = { group: this.group, topic, partition, epoch: state.epoch };
          if (!(await this.store.advance(client, position, next, type, value))) {
            await client.query('rollback');
            throw new FencedError(
              `${this.group} lost ${topic}[${partition}] (epoch ${state.epoch} is stale): effects rolled back`,
            );
          }
          await client.query('commit');
          return next;
        } catch (error) {
          await client.query('rollback').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      };
      let next: bigint | undefined;
      const processedBefore = this.stats.processed;
      try {
        next = await runChunk(true);
      } catch (error) {
        if (!(error instanceof SlowPath)) throw error;
        this.stats.processed = processedBefore; // the fast pass was rolled back
        next = await runChunk(false);
      }
      if (next === undefined) return;
      this.moved(state, next);
      await this.mirror(topic, partition, state.next);
      await heartbeat();
    }
  }

  private async runAtLeastOnce(
    topic: string,
    partition: number,
    state: PartitionState,
    messages: KafkaMessage[],
    isRunning: () => boolean,
    isStale: () => boolean,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    let last: KafkaMessage | undefined;
    let sinceCheckpoint = 0;
    const checkpoint = async () => {
      if (!last) return;
      await this.options.afterChunk?.();
      const next = BigInt(last.offset) + 1n;
      const [type, value] = this.checkpointValue(last);
      const moved = await this.store.advance(
        this.pool,
        { group: this.group, topic, partition, epoch: state.epoch },
        next,
        type,
        value,
      );
      if (!moved)
        throw new FencedError(`${this.group} lost ${topic}[${partition}] (epoch ${state.epoch} is stale)`);
      this.moved(state, next);
      sinceCheckpoint = 0;
      await this.mirror(topic, partition, next);
    };
    for (const m of messages) {
      if (!isRunning() || isStale()) break;
      const ctx = { pipeline: this.name, group: this.group, ...this.replayContext(state, m) };
      await this.process(this.toEvent(topic, partition, m), ctx);
      last = m;
      if (++sinceCheckpoint >= (this.options.chunkSize ?? 2000)) {
        await checkpoint();
        await heartbeat();
      }
    }
    await checkpoint();
  }

  /** Windowed: fold each event; an event of a later window first closes the open one and checkpoints there. */
  private async runWindowed(
    topic: string,
    partition: number,
    state: PartitionState,
    messages: KafkaMessage[],
    isRunning: () => boolean,
    isStale: () => boolean,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    const windows = this.windows!;
    for (const m of messages) {
      if (!isRunning() || isStale()) return;
      const closed = windows.closedBy(topic, partition, Number(m.timestamp));
      if (closed) {
        await this.closeWindow(state, closed, BigInt(m.offset));
        windows.drop(topic, partition);
        await heartbeat();
      }
      const ctx = { pipeline: this.name, group: this.group, ...this.replayContext(state, m) };
      await this.process(this.toEvent(topic, partition, m), ctx);
    }
  }

  /** Runs the window's close and moves the checkpoint to `next` (type window); one transaction when transactional. */
  private async closeWindow(
    state: PartitionState,
    closed: ClosedWindow<unknown>,
    next: bigint,
  ): Promise<void> {
    const { topic, partition } = closed;
    const position = { group: this.group, topic, partition, epoch: state.epoch };
    const value = windowValue(closed.start, closed.end);
    const ctx = { pipeline: this.name, group: this.group };
    const fenced = () =>
      new FencedError(
        `${this.group} lost ${topic}[${partition}] (epoch ${state.epoch} is stale): window not closed`,
      );
    if (this.mode === 'transactional') {
      const client = await this.pool.connect();
      try {
        await client.query('begin');
        await this.options.window!.close(closed, { ...ctx, tx: client });
        if (!(await this.store.advance(client, position, next, 'window', value))) throw fenced();
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    } else {
      await this.options.window!.close(closed, ctx);
      if (!(await this.store.advance(this.pool, position, next, 'window', value))) throw fenced();
    }
    this.moved(state, next);
    await this.mirror(topic, partition, next);
  }

  private moved(state: PartitionState, next: bigint): void {
    state.next = next;
    if (state.replayResume !== undefined && next >= state.replayResume) {
      delete state.replayResume;
      delete state.replayUntil;
      delete state.replayId;
    }
  }

  /** Mirrors the checkpoint to Kafka's committed offsets, so Kafka's tools see the same position. */
  private async mirror(topic: string, partition: number, next: bigint): Promise<void> {
    try {
      await this.consumer!.commitOffsets([{ topic, partition, offset: next.toString() }]);
    } catch {
      // The table is the source of truth; the mirror catches up on the next commit.
    }
  }

  private async deadLetter(event: PipelineEvent, error: unknown, attempts: number): Promise<void> {
    const topic = deadLetterTopic(this.group);
    if (!this.dlqProducer) {
      const kafka = createKafka(this.config);
      this.dlqProducer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await this.dlqProducer.connect();
    }
    if (!this.dlqReady) {
      const admin = this.admin!;
      if (!(await admin.listTopics()).includes(topic)) {
        await admin
          .createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] })
          .catch(() => false);
      }
      this.dlqReady = true;
    }
    const record: DeadLetter = {
      pipeline: this.name,
      consumerGroup: this.group,
      topic: event.topic,
      partition: event.partition,
      offset: Number(event.offset),
      key: event.key === null ? null : Buffer.from(event.key),
      value: event.raw,
      headers: event.headers,
      errorCode: errorCodeOf(error),
      errorMessage: describeError(error).slice(0, 4000),
      attempts,
      failedAt: Date.now(),
    };
    const serde =
      this.serde ?? new AvroSerde({ registryUrl: this.config.schemaRegistry.url, autoRegister: true });
    let value: Buffer;
    try {
      value = (await serde.encode('accord.platform.DeadLetter', record)).buffer;
    } catch {
      // Registry unreachable or schema unregistered: keep the record anyway, as JSON.
      value = Buffer.from(
        JSON.stringify({ ...record, key: event.key, value: event.raw?.toString('base64') ?? null }),
      );
    }
    await this.dlqProducer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: event.key,
          value,
          headers: {
            'accord-dlq-source': `${event.topic}/${event.partition}/${event.offset}`,
            'accord-dlq-error-code': record.errorCode,
            ...(event.headers[HEADERS.eventId] ? { [HEADERS.eventId]: event.headers[HEADERS.eventId] } : {}),
          },
        },
      ],
    });
    this.stats.deadLettered++;
    this.options.onDeadLetter?.(event, error);
  }

  /** Finishes the current batch, checkpoints it, leaves the group and closes every client. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.topicWatch) clearInterval(this.topicWatch);
      await this.restarting;
      await this.consumer?.disconnect().catch(() => {});
      await this.unsubscribe?.().catch(() => {});
      await this.dlqProducer?.disconnect().catch(() => {});
      await this.admin?.disconnect().catch(() => {});
      if (this.ownsPool) await this.pool.end().catch(() => {});
    })();
    return this.stopping;
  }
}

export function createPipeline(options: PipelineOptions): Pipeline {
  return new Pipeline(options);
}
