import type { Admin, Consumer, EachBatchPayload } from 'kafkajs';
import { type ResolvedConfig, resolveConfig } from '../config';
import { createKafka, createPgPool } from '../infra/clients';
import type { SqlPool } from '../infra/sql';
import { defaultLogger, type Logger } from '../telemetry/log';
import { Telemetry } from '../telemetry/seam';
import { fetchPosition, planBatch } from './batch-plan';
import { CheckpointWriter, type DeferredCheckpoint } from './checkpoint-writer';
import { CheckpointStore } from './checkpoints';
import { pipelineConsumer, pipelineSerde } from './clients';
import { listenAsGroup } from './control';
import { DeadLetterSender } from './dead-letters';
import { Delivery } from './delivery';
import { FencedError } from './errors';
import { PartitionGuard } from './guard';
import { checkPipelineOptions } from './options';
import { prepareGroup } from './positions';
import { pauseTopics, resumeTopics, seekToCheckpoints } from './seek';
import { TopicSubscription } from './subscription';
import type { PartitionState, PipelineMode, PipelineOptions } from './types';
import { defineWindow, WindowTracker } from './windows';

export * from './types';

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
  private readonly pool: SqlPool;
  private readonly ownsPool: boolean;
  private readonly store: CheckpointStore;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private readonly deadLetters: DeadLetterSender;
  private readonly delivery: Delivery;
  /** At-least-once with `checkpointEveryMs`: checkpoints written on a timer (checkpoint-writer.ts). */
  private readonly writer: CheckpointWriter | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  private assignment: Record<string, number[]> = {};
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly guard: PartitionGuard;
  /** The seam for logs, metrics and tracing (see telemetry/seam.ts). */
  readonly telemetry: Telemetry;
  private readonly windows: WindowTracker | undefined;
  /** Partitions this instance paused because they cannot proceed (topic:partition). */
  private readonly halted = new Set<string>();
  private readonly subscription: TopicSubscription;
  private paused = false;
  /** Bound with the pipeline's name and group. */
  readonly log: Logger;
  /** Counters for tests, status and benchmarks. */
  readonly stats = { processed: 0, deadLettered: 0, fenced: 0, batches: 0, incidents: 0, halted: 0 };

  constructor(private readonly options: PipelineOptions) {
    const { mode, policy } = checkPipelineOptions(options);
    if (options.window !== undefined) this.windows = new WindowTracker(defineWindow(options.window));
    this.name = options.name;
    this.group = options.group ?? options.name;
    this.mode = mode;
    this.config = options.config ?? resolveConfig();
    this.ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createPgPool(this.config.postgres.url, { max: 4 });
    this.store = new CheckpointStore(this.pool);
    this.telemetry = options.telemetry ?? new Telemetry();
    this.subscription = new TopicSubscription(options.topics, () => this.admin!);
    this.log = (options.logger ?? defaultLogger()).child({ pipeline: this.name, group: this.group });
    this.guard = new PartitionGuard({
      admin: () => this.admin!,
      store: this.store,
      kafka: this.config.kafka,
      pipeline: this.name,
      group: this.group,
      policy,
      log: this.log,
      telemetry: this.telemetry,
      counted: () => this.stats.incidents++,
    });
    const serde = pipelineSerde(options, this.config);
    this.deadLetters = new DeadLetterSender({
      config: this.config,
      pipeline: this.name,
      group: this.group,
      admin: () => this.admin!,
      ...(serde ? { serde } : {}),
    });
    if ((options.checkpointEveryMs ?? 0) > 0 && mode === 'at-least-once' && !this.windows)
      this.writer = new CheckpointWriter({
        group: this.group,
        store: this.store,
        everyMs: options.checkpointEveryMs!,
        log: this.log,
        written: (moved) => this.written(moved),
        fenced: (refused) => this.fenced(refused.topic, refused.partition, refused.state),
      });
    this.delivery = new Delivery(options, {
      name: this.name,
      group: this.group,
      mode,
      pool: this.pool,
      store: this.store,
      serde,
      windows: this.windows,
      stats: this.stats,
      deadLetters: this.deadLetters,
      mirror: (topic, partition, next) => this.mirror([{ topic, partition, next }]),
      writer: this.writer,
      telemetry: this.telemetry,
      log: this.log,
    });
  }

  /** Joins the group and starts consuming. Resolves once the consumer runs. */
  async start(): Promise<void> {
    this.admin = createKafka(this.config).admin();
    await this.admin.connect();
    const topics = await this.subscription.resolve();
    await this.preparePositions(topics);
    // The control channel: a replay or rebind moved the checkpoints (and fenced us); a replay being
    // planned wants the positions held in memory written first (control.ts).
    this.unsubscribe = await listenAsGroup(this.pool, this.group, this.log, {
      flush: async () => {
        await this.writer?.flush();
      },
      moved: () => this.applyControl(),
    });
    this.writer?.start();
    await this.runConsumer(topics);
    this.subscription.watch(
      this.options.topicRefreshMs ?? (this.config.testMode ? 1000 : 10000),
      (all, added) => this.rejoin(all, added),
      (error) => this.log.error({ error }, 'looking for new topics failed; retrying'),
    );
  }

  /** New topics match the pattern: restart the consumer on the longer list, new topics from their start. */
  private async rejoin(topics: string[], added: string[]): Promise<void> {
    if (this.stopping) return;
    await this.preparePositions(added, 'earliest');
    this.log.info({ topics: added }, 'new topics match the subscription; rejoining the group');
    await this.consumer?.disconnect();
    if (this.stopping) return;
    this.partitions.clear();
    await this.preparePositions(topics);
    await this.runConsumer(topics);
  }

  private async runConsumer(topics: string[]): Promise<void> {
    const consumer = pipelineConsumer(this.config, this.group, this.options);
    this.consumer = consumer;
    // A rebalance invalidates every claim: partitions are claimed again (new epoch) on their next batch.
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.partitions.clear();
      this.assignment = event.payload.memberAssignment;
    });
    // Partitions may move: pending positions are written now, so their next holder starts from them.
    consumer.on(consumer.events.REBALANCING, () => {
      this.writer?.flush().catch(() => {}); // logged by the writer; refused ones were another's already
    });
    consumer.on(consumer.events.CRASH, ({ payload: { error, restart } }) => {
      this.telemetry.emit({ type: 'consumer.crashed', pipeline: this.name, group: this.group, error });
      this.log.error({ error, restart }, 'consumer crashed; it restarts from the checkpoint');
    });
    await consumer.connect();
    // fromBeginning: a fetch that meets OFFSET_OUT_OF_RANGE resets to the earliest offset, which the
    // claim's checks then see as a gap (never a silent jump to the log end).
    await consumer.subscribe({ topics, fromBeginning: true });
    this.subscription.subscribedTo(topics);
    this.halted.clear();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsAtOnce ?? 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
    if (this.paused) pauseTopics(consumer, topics); // a consumer made while paused (new topics) stays paused
  }

  /** An operator moved the checkpoints (replay) or rebound them: claim again, seek, resume what was halted. */
  private async applyControl(): Promise<void> {
    await this.writer?.flush(); // a control message that fenced us refuses these; one that did not, keeps them
    await seekToCheckpoints(this.seekParts(), 'resume-halted');
    this.stats.halted = this.halted.size;
  }

  private seekParts() {
    const { store, group, assignment, consumer, partitions, halted } = this;
    return { store, group, assignment, consumer, partitions, halted };
  }

  /**
   * The kill switch: stop fetching, and stop handling at the next event (the one in hand finishes and is
   * checkpointed). The group keeps its partitions and checkpoints; resume() goes on from them.
   */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    pauseTopics(this.consumer, this.subscription.current());
    this.writer?.flush().catch(() => {}); // logged by the writer; written again on its next tick
    this.log.warn({}, 'paused: not consuming until resumed');
  }

  /** Goes on from the checkpoints (events fetched but not handled before the pause are fetched again). */
  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    await this.writer?.flush();
    await seekToCheckpoints(this.seekParts(), 'keep-halted');
    resumeTopics(this.consumer, this.subscription.current(), this.halted);
    this.log.info({}, 'resumed');
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Before joining: seeds checkpoints for new partitions and aligns Kafka's offsets (see prepareGroup). */
  private async preparePositions(topics: string[], from = this.options.from ?? 'earliest'): Promise<void> {
    await prepareGroup({
      admin: this.admin!,
      store: this.store,
      guard: this.guard,
      pipeline: this.name,
      group: this.group,
      from,
      topics,
    });
  }

  /**
   * Claims a partition and checks its checkpoint (see PartitionGuard.claim). Undefined when it cannot
   * proceed: halted (paused here until an operator acts) or claimed by another instance meanwhile.
   */
  private async claim(topic: string, partition: number): Promise<PartitionState | undefined> {
    // A window is folded again from the checkpoint (its first event) by whoever holds the partition now.
    this.windows?.drop(topic, partition);
    // A position still pending for this partition is written before its row is read again.
    await this.writer?.flush(`${topic}:${partition}`);
    const claimed = await this.guard.claim(topic, partition, this.options.from ?? 'earliest');
    if (claimed.kind === 'halted') {
      this.halted.add(`${topic}:${partition}`);
      this.stats.halted = this.halted.size;
      this.consumer?.pause([{ topic, partitions: [partition] }]);
    }
    return claimed.kind === 'proceed' ? claimed.state : undefined;
  }

  private async onBatch({
    batch,
    heartbeat,
    isRunning,
    isStale,
    resolveOffset,
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
    const plan = planBatch(state, batch.messages);
    if (plan.kind === 'nothing') return;
    if (plan.kind === 'realign') {
      if (!claimedNow) {
        this.partitions.delete(key);
        state = await this.claim(topic, partition);
        if (!state) return;
        this.partitions.set(key, state);
      }
      this.consumer!.seek({ topic, partition, offset: fetchPosition(state).toString() });
      return;
    }
    if (plan.kind === 'end-replay') {
      await this.writer?.flush(key); // a pending position written after the jump would move it back
      const ended = await this.store.endReplay(
        { group: this.group, topic, partition, epoch: state.epoch },
        plan.resume,
      );
      if (!ended) {
        this.partitions.delete(key);
        return;
      }
      state.next = plan.resume;
      // A windowed pipeline's open window of replayed events is not closed: it resumes at a window start.
      delete state.folded;
      this.windows?.drop(topic, partition);
      delete state.replayResume;
      delete state.replayUntil;
      delete state.replayId;
      this.consumer!.seek({ topic, partition, offset: plan.resume.toString() });
      return;
    }
    const messages = plan.messages;
    this.stats.batches++;
    try {
      const running = () => isRunning() && !this.paused;
      const slice = { topic, partition, state, messages, isRunning: running, isStale, heartbeat };
      await this.delivery.deliver(slice, batch.highWatermark);
    } catch (error) {
      if (!(error instanceof FencedError)) throw error;
      this.fenced(topic, partition, state);
      return;
    }
    // Kafka fetches next from the last resolved offset: past what was handled (a windowed pipeline's
    // open window included), not back at the checkpoint, which would fetch the batch again only to realign.
    const position = fetchPosition(state);
    const first = messages[0];
    if (first && !isStale() && position > BigInt(first.offset)) resolveOffset((position - 1n).toString());
    await heartbeat();
    await commitOffsetsIfNecessary();
    // Stopping: the last positions are written while the consumer is still in its group (the mirror commits).
    if (!isRunning()) await this.writer?.flush();
  }

  /** Deferred checkpoints written: reported, and mirrored to Kafka in one commit. */
  private async written(moved: DeferredCheckpoint[]): Promise<void> {
    this.delivery.checkpointsWritten(moved);
    if (moved.length > 0) await this.mirror(moved);
  }

  /** The partition's claim was refused by its epoch (inline, or a deferred write): claimed again later. */
  private fenced(topic: string, partition: number, state: PartitionState): void {
    const key = `${topic}:${partition}`;
    if (this.partitions.get(key) === state) this.partitions.delete(key);
    this.stats.fenced++;
    this.telemetry.emit({
      type: 'fenced',
      pipeline: this.name,
      group: this.group,
      topic,
      partition,
      epoch: state.epoch,
    });
  }

  /** Mirrors checkpoints to Kafka's committed offsets (one commit), so Kafka's tools see the same positions. */
  private async mirror(moved: { topic: string; partition: number; next: bigint }[]): Promise<void> {
    try {
      await this.consumer?.commitOffsets(
        moved.map(({ topic, partition, next }) => ({ topic, partition, offset: next.toString() })),
      );
    } catch {
      // The table is the source of truth; the mirror catches up on the next commit.
    }
  }

  /** Finishes the current batch, checkpoints it, leaves the group and closes every client. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.subscription.stop();
      // Pending positions first, while the consumer is in its group (a batch in flight writes its own).
      await this.writer?.flush().catch(() => {});
      await this.consumer?.disconnect().catch(() => {});
      await this.writer?.flush().catch(() => {});
      this.writer?.stop();
      await this.unsubscribe?.().catch(() => {});
      await this.deadLetters.close();
      await this.admin?.disconnect().catch(() => {});
      if (this.ownsPool) await this.pool.end().catch(() => {});
    })();
    return this.stopping;
  }
}

export function createPipeline(options: PipelineOptions): Pipeline {
  return new Pipeline(options);
}
