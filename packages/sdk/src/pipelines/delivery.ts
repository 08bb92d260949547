import type { KafkaMessage } from 'kafkajs';
import { SideEffectJournal } from '../agents/side-effects';
import { AccordError, describeError } from '../errors';
import type { SqlClient, SqlPool } from '../infra/sql';
import type { AvroSerde } from '../schemas/serde';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import { type Batch, staleAt } from './batch';
import type { CheckpointWriter } from './checkpoint-writer';
import type { CheckpointStore, CheckpointType } from './checkpoints';
import type { DeadLetterSender } from './dead-letters';
import { classifyFailure, FencedError, isOutage, OUTAGE_RETRY_IN_PLACE_MS } from './errors';
import { KeyedRunner } from './keyed';
import { replayedDeadLetterFor, toEvent } from './records';
import { DeliveryReports } from './reports';
import type {
  ChunkPass,
  HandlerContext,
  PartitionState,
  PipelineEvent,
  PipelineMode,
  PipelineOptions,
} from './types';
import { closeWindow } from './window-close';
import type { ClosedWindow, WindowTracker } from './windows';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Internal: a transactional chunk's fast pass hit a failure; run it again event by event. */
class SlowPath extends Error {}

export interface DeliveryStats {
  processed: number;
  deadLettered: number;
}

/**
 * How a batch of one partition is delivered to the handler and checkpointed: at-least-once (process,
 * then checkpoint every chunk), transactional (each chunk's writes and its checkpoint in one Postgres
 * transaction), or windowed (fold, checkpoint at window closes). Retries by error type and dead letters
 * are here too. The pipeline owns the consumer and the claims; this owns what happens to the events.
 */
export interface DeliveryDeps {
  name: string;
  group: string;
  mode: PipelineMode;
  pool: SqlPool;
  store: CheckpointStore;
  serde: AvroSerde | undefined;
  windows: WindowTracker | undefined;
  stats: DeliveryStats;
  deadLetters: DeadLetterSender;
  mirror: (topic: string, partition: number, next: bigint) => Promise<void>;
  /** At-least-once with `checkpointEveryMs`: positions are written on a timer (checkpoint-writer.ts). */
  writer: CheckpointWriter | undefined;
  telemetry: Telemetry;
  log: Logger;
}

export class Delivery {
  private readonly reports: DeliveryReports;
  /** Windowed pipelines' side effects (window.close ctx.sideEffect), made on first use. */
  private journal: SideEffectJournal | undefined;

  constructor(
    private readonly options: PipelineOptions,
    private readonly deps: DeliveryDeps,
  ) {
    this.reports = new DeliveryReports(deps);
  }

  /**
   * Runs the handler. Returns a promise only when the handler did (a synchronous handler costs no promise
   * hop: at 100,000+ events/s they were a measurable part of the delivery loop).
   */
  private handle(event: PipelineEvent, ctx: HandlerContext): Promise<void> | undefined {
    if (!this.deps.telemetry.intercepting) {
      const done = this.options.handler?.(event, ctx);
      if (done && typeof (done as Promise<void>).then === 'function')
        return (done as Promise<void>).then(() => this.deps.windows?.add(event));
      this.deps.windows?.add(event);
      return undefined;
    }
    const core = async () => {
      if (this.options.handler) await this.options.handler(event, ctx);
      this.deps.windows?.add(event);
    };
    const { topic, partition, offset } = event;
    return this.deps.telemetry.handle(
      {
        pipeline: ctx.pipeline,
        group: ctx.group,
        topic,
        partition,
        offset,
        headers: event.headers,
        attempt: ctx.attempt,
        replay: ctx.replay,
      },
      core,
    );
  }

  replayContext(
    state: PartitionState,
    m: KafkaMessage,
  ): { replay: boolean; replayId?: number; logId: string } {
    const replay = state.replayResume !== undefined && BigInt(m.offset) < state.replayResume;
    const logId = state.logId;
    return replay && state.replayId !== undefined
      ? { replay, replayId: state.replayId, logId }
      : { replay, logId };
  }

  /**
   * Decodes and runs the handler, retrying by error type, dead-lettering what cannot succeed. With `fast`
   * (transactional first pass, no savepoints), any failure throws SlowPath instead: the chunk is rolled
   * back and run again event by event with savepoints, so one bad event never keeps another's writes.
   */
  private async process(
    event: PipelineEvent,
    ctx: Omit<HandlerContext, 'attempt'>,
    savepoint?: SqlClient,
    fast = false,
    running: () => boolean = () => true,
  ): Promise<void> {
    const replayFor = replayedDeadLetterFor(event);
    if (replayFor !== undefined && replayFor !== this.deps.group) return; // another group's dead letter, sent back
    if (this.deps.serde && event.raw) {
      try {
        const decoded = this.deps.serde.decodeKnown(event.raw) ?? (await this.deps.serde.decode(event.raw));
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
      const started = performance.now();
      try {
        const handled = this.handle(event, { ...ctx, attempt: 1 });
        if (handled) await handled;
      } catch {
        throw new SlowPath(); // reported by the slow pass that runs it again
      }
      this.deps.stats.processed++;
      this.reports.attemptEnded(event, 1, started, 'ok');
      return;
    }
    const maxAttempts = this.options.maxAttempts ?? 3;
    let outageSince: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        if (savepoint) await savepoint.query('savepoint accord_event');
        const handled = this.handle(event, { ...ctx, attempt });
        if (handled) await handled;
        if (savepoint) await savepoint.query('release savepoint accord_event');
        this.deps.stats.processed++;
        this.reports.attemptEnded(event, attempt, started, 'ok');
        return;
      } catch (error) {
        if (savepoint) await savepoint.query('rollback to savepoint accord_event');
        // Redis, Postgres, Kafka or the registry down is not this event's fault: it is never dead-lettered
        // for it (found by the Redis fault suite: a one-second restart sent an agent's event to its DLQ).
        // Retried in place for a while; then the batch stops and the consumer restarts from its checkpoint.
        if (isOutage(error)) {
          // Said once per event when the outage starts, and when it gives up: a pipeline waiting on a dead
          // dependency must show in its log (an agent once retried for minutes without a line).
          if (outageSince === undefined)
            this.deps.log.warn(
              {
                topic: event.topic,
                partition: event.partition,
                offset: event.offset,
                error: describeError(error),
              },
              `a dependency is unavailable: retrying this event in place for up to ${OUTAGE_RETRY_IN_PLACE_MS / 1000} s`,
            );
          outageSince ??= Date.now();
          if (Date.now() - outageSince > OUTAGE_RETRY_IN_PLACE_MS || !running()) {
            if (running())
              this.deps.log.warn(
                {
                  topic: event.topic,
                  partition: event.partition,
                  offset: event.offset,
                  error: describeError(error),
                },
                'still unavailable: the batch stops, and the consumer starts again from its checkpoint',
              );
            throw error;
          }
          this.reports.attemptEnded(event, attempt, started, 'retry', error);
          await delay(Math.min(5000, (this.options.retryBackoffMs ?? 200) * 2 ** Math.min(attempt - 1, 5)));
          continue;
        }
        if (classifyFailure(error, attempt, maxAttempts) === 'dead-letter') {
          this.reports.attemptEnded(event, attempt, started, 'dead-letter', error);
          await this.deadLetter(event, error, attempt);
          return;
        }
        this.reports.attemptEnded(event, attempt, started, 'retry', error);
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
  async runTransactional(batch: Batch): Promise<void> {
    const { topic, partition, state, messages, isRunning, isStale, heartbeat } = batch;
    const chunkSize = this.options.chunkSize ?? 500;
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(i, i + chunkSize);
      const runChunk = async (fast: boolean): Promise<bigint | undefined> => {
        const client = await this.deps.pool.connect();
        const pass: ChunkPass = { topic, partition, tx: client, deferrable: fast };
        try {
          await client.query('begin');
          let last: KafkaMessage | undefined;
          for (const [j, m] of chunk.entries()) {
            if (!isRunning() || staleAt(j, isStale)) break;
            const ctx = {
              pipeline: this.deps.name,
              group: this.deps.group,
              ...this.replayContext(state, m),
              tx: client,
              chunk: pass,
            };
            await this.process(toEvent(topic, partition, m), ctx, fast ? undefined : client, fast, isRunning);
            last = m;
          }
          if (!last) {
            await client.query('rollback');
            return undefined;
          }
          try {
            await this.options.afterChunk?.(pass);
          } catch (error) {
            // Writes the handler left to afterChunk failed: find the event they belong to, one by one.
            if (fast && !isOutage(error)) throw new SlowPath();
            throw error;
          }
          const next = BigInt(last.offset) + 1n;
          const [type, value] = this.checkpointValue(last);
          const position = { group: this.deps.group, topic, partition, epoch: state.epoch };
          if (!(await this.deps.store.advance(client, position, next, type, value))) {
            await client.query('rollback');
            throw new FencedError(
              `${this.deps.group} lost ${topic}[${partition}] (epoch ${state.epoch} is stale): effects rolled back`,
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
      const processedBefore = this.deps.stats.processed;
      try {
        next = await runChunk(true);
      } catch (error) {
        if (!(error instanceof SlowPath)) throw error;
        this.deps.stats.processed = processedBefore; // the fast pass was rolled back
        next = await runChunk(false);
      }
      if (next === undefined) return;
      this.moved(state, next);
      this.reports.checkpointed(topic, partition, next, this.options.checkpoint ?? 'offset');
      await this.deps.mirror(topic, partition, state.next);
      await heartbeat();
    }
  }

  /** Checkpoints every chunk, or defers the position to the writer (option checkpointEveryMs). */
  async runAtLeastOnce(batch: Batch): Promise<void> {
    const { topic, partition, state, messages, isRunning, isStale, heartbeat } = batch;
    let last: KafkaMessage | undefined;
    let sinceCheckpoint = 0;
    let pass: ChunkPass = { topic, partition, deferrable: false };
    const checkpoint = async () => {
      if (!last) return;
      await this.options.afterChunk?.(pass);
      pass = { topic, partition, deferrable: false };
      const next = BigInt(last.offset) + 1n;
      const [type, value] = this.checkpointValue(last);
      const writer = this.deps.writer;
      if (writer) {
        this.moved(state, next);
        sinceCheckpoint = 0;
        writer.defer({ topic, partition, state, next, type, value });
        // Postgres has refused checkpoints for too long: stop here (the write throws) rather than go on.
        if (writer.mustWait) await writer.flush(`${topic}:${partition}`);
        return;
      }
      const moved = await this.deps.store.advance(
        this.deps.pool,
        { group: this.deps.group, topic, partition, epoch: state.epoch },
        next,
        type,
        value,
      );
      if (!moved)
        throw new FencedError(
          `${this.deps.group} lost ${topic}[${partition}] (epoch ${state.epoch} is stale)`,
        );
      this.moved(state, next);
      this.reports.checkpointed(topic, partition, next, type);
      sinceCheckpoint = 0;
      await this.deps.mirror(topic, partition, next);
    };
    // keyConcurrency > 1: events of different keys at once, in order per key (keyed.ts). A checkpoint
    // waits for every event before it to end, so it never passes one still running or failed.
    const limit = this.options.keyConcurrency ?? 1;
    const runner = limit > 1 ? new KeyedRunner(limit) : undefined;
    try {
      for (const [i, m] of messages.entries()) {
        if (!isRunning() || staleAt(i, isStale)) break;
        const ctx = {
          pipeline: this.deps.name,
          group: this.deps.group,
          ...this.replayContext(state, m),
          chunk: pass,
        };
        const event = toEvent(topic, partition, m);
        if (runner)
          await runner.add(m.key ? m.key.toString('latin1') : '', () =>
            this.process(event, ctx, undefined, false, isRunning),
          );
        else await this.process(event, ctx, undefined, false, isRunning);
        last = m;
        if (++sinceCheckpoint >= (this.options.chunkSize ?? 2000)) {
          await runner?.drain();
          await checkpoint();
          await heartbeat();
        }
      }
      await runner?.drain();
    } catch (error) {
      await runner?.drain().catch(() => {}); // every event started has ended before the batch fails
      throw error;
    }
    await checkpoint();
  }

  /** Windowed: fold each event; an event of a later window first closes the open one and checkpoints there. */
  async runWindowed(batch: Batch): Promise<void> {
    const { topic, partition, state, messages, isRunning, isStale, heartbeat } = batch;
    const windows = this.deps.windows!;
    // Windows have no chunks (afterChunk is not called): one pass object for the batch's events.
    const pass: ChunkPass = { topic, partition, deferrable: false };
    for (const [i, m] of messages.entries()) {
      if (!isRunning() || staleAt(i, isStale)) return;
      const offset = BigInt(m.offset);
      // Fetched again (a consumer restart goes back to the checkpoint, the open window's first event):
      // the open window already holds it; folding it again would count it twice.
      if (state.folded !== undefined && offset < state.folded) continue;
      const closed = windows.closedBy(topic, partition, Number(m.timestamp));
      if (closed) {
        await this.closeWindow(state, closed, BigInt(m.offset));
        windows.drop(topic, partition);
        await heartbeat();
      }
      const ctx = {
        pipeline: this.deps.name,
        group: this.deps.group,
        ...this.replayContext(state, m),
        chunk: pass,
      };
      await this.process(toEvent(topic, partition, m), ctx, undefined, false, isRunning);
      state.folded = offset + 1n;
    }
  }

  /** Runs the window's close and moves the checkpoint to `next` (type window): window-close.ts. */
  private async closeWindow(
    state: PartitionState,
    closed: ClosedWindow<unknown>,
    next: bigint,
  ): Promise<void> {
    this.journal ??= new SideEffectJournal(this.deps.pool, this.deps.name);
    await closeWindow({
      ...this.deps,
      journal: this.journal,
      close: this.options.window!.close,
      state,
      closed,
      next,
    });
    this.moved(state, next);
    this.reports.checkpointed(closed.topic, closed.partition, next, 'window');
    await this.deps.mirror(closed.topic, closed.partition, next);
  }

  /** Deferred checkpoints were written (checkpoint-writer.ts): report them. */
  checkpointsWritten(
    written: { topic: string; partition: number; next: bigint; type: CheckpointType }[],
  ): void {
    for (const c of written) this.reports.checkpointed(c.topic, c.partition, c.next, c.type);
  }

  private moved(state: PartitionState, next: bigint): void {
    state.next = next;
    if (state.replayResume !== undefined && next >= state.replayResume) {
      delete state.replayResume;
      delete state.replayUntil;
      delete state.replayId;
    }
  }

  private async deadLetter(event: PipelineEvent, error: unknown, attempts: number): Promise<void> {
    await this.deps.deadLetters.send(event, error, attempts);
    this.reports.deadLettered(event, error, attempts);
  }
}
