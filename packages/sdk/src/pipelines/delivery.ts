import type { KafkaMessage } from 'kafkajs';
import { SideEffectJournal } from '../agents/side-effects';
import type { SqlPool } from '../infra/sql';
import type { AvroSerde } from '../schemas/serde';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import { type Batch, staleAt } from './batch';
import type { CheckpointWriter } from './checkpoint-writer';
import type { CheckpointStore, CheckpointType } from './checkpoints';
import type { DeadLetterSender } from './dead-letters';
import { FencedError, isOutage } from './errors';
import { KeyedRunner } from './keyed';
import { EventProcessor, SlowPath } from './processing';
import { headersOf, toEvent } from './records';
import { DeliveryReports } from './reports';
import type { ChunkPass, HandlerContext, PartitionState, PipelineMode, PipelineOptions } from './types';
import { closeWindow } from './window-close';
import type { ClosedWindow, WindowTracker } from './windows';

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
  private readonly events: EventProcessor;
  /** Windowed pipelines' side effects (window.close ctx.sideEffect), made on first use. */
  private journal: SideEffectJournal | undefined;

  constructor(
    private readonly options: PipelineOptions,
    private readonly deps: DeliveryDeps,
  ) {
    this.reports = new DeliveryReports(deps);
    this.events = new EventProcessor(options, deps, this.reports);
  }

  /**
   * Delivers one partition's batch the pipeline's way (windowed, transactional or at-least-once), inside
   * the telemetry seam's batch span when one intercepts, and reports the partition's lag after it.
   */
  async deliver(batch: Batch, highWatermark: string): Promise<void> {
    const run = this.deps.windows
      ? this.runWindowed
      : this.deps.mode === 'transactional'
        ? this.runTransactional
        : this.runAtLeastOnce;
    const { telemetry, name: pipeline, group } = this.deps;
    const { topic, partition, state, messages } = batch;
    if (telemetry.interceptingBatches)
      await telemetry.batch(
        { pipeline, group, topic, partition, headers: () => messages.map((m) => headersOf(m.headers)) },
        () => run.call(this, batch),
      );
    else await run.call(this, batch);
    if (telemetry.listening) {
      const lag = Math.max(0, Number(highWatermark) - Number(state.next));
      telemetry.emit({ type: 'lag', pipeline, group, topic, partition, lag });
    }
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

  private checkpointValue(m: KafkaMessage): [CheckpointType, string] {
    return this.options.checkpoint === 'timestamp'
      ? ['timestamp', new Date(Number(m.timestamp)).toISOString()]
      : ['offset', m.offset];
  }

  /** Each chunk of the batch is one transaction: the handler's writes and the checkpoint commit together. */
  async runTransactional(batch: Batch): Promise<void> {
    const { topic, partition, state, messages, isRunning, isStale, heartbeat } = batch;
    const chunkSize = this.options.chunkSize ?? 500;
    let mirrored = true;
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (!isRunning() || isStale()) break;
      const chunk = messages.slice(i, i + chunkSize);
      const runChunk = async (fast: boolean): Promise<bigint | undefined> => {
        const client = await this.deps.pool.connect();
        const pass: ChunkPass = { topic, partition, tx: client, deferrable: fast };
        // Not awaited here: the client sends the handler's statements after it anyway (one connection runs
        // its queries in order), and a handler that writes nothing need not wait a round trip for it.
        const begun = client.query('begin');
        begun.catch(() => {}); // awaited below; a failure before then is not unhandled
        try {
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
            await this.events.process(
              toEvent(topic, partition, m),
              ctx,
              fast ? undefined : client,
              fast,
              isRunning,
            );
            last = m;
          }
          await begun;
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
      if (next === undefined) break;
      this.moved(state, next);
      this.reports.checkpointed(topic, partition, next, this.options.checkpoint ?? 'offset');
      mirrored = false;
      await heartbeat();
    }
    // Kafka's copy of the position once per batch, not per chunk: the table is the truth, the mirror a
    // round trip per call (a seventh of a 500-event chunk's time when the handler writes nothing).
    if (!mirrored) await this.deps.mirror(topic, partition, state.next);
  }

  /** Checkpoints every chunk, or defers the position to the writer (option checkpointEveryMs). */
  async runAtLeastOnce(batch: Batch): Promise<void> {
    const { topic, partition, state, messages, isRunning, isStale, heartbeat } = batch;
    let last: KafkaMessage | undefined;
    let sinceCheckpoint = 0;
    let pass: ChunkPass = { topic, partition, deferrable: false };
    let shared: Omit<HandlerContext, 'attempt'> | undefined;
    const checkpoint = async () => {
      if (!last) return;
      await this.options.afterChunk?.(pass);
      pass = { topic, partition, deferrable: false };
      shared = undefined;
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
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as KafkaMessage;
        if (!isRunning() || staleAt(i, isStale)) break;
        // Outside a replay every event of a chunk has the same context: made once per chunk.
        let ctx = state.replayResume === undefined ? shared : undefined;
        if (!ctx) {
          ctx = {
            pipeline: this.deps.name,
            group: this.deps.group,
            ...this.replayContext(state, m),
            chunk: pass,
          };
          if (state.replayResume === undefined) shared = ctx;
        }
        const event = toEvent(topic, partition, m);
        if (runner)
          await runner.add(
            m.key ? m.key.toString('latin1') : '',
            () => this.events.run(event, ctx, isRunning) ?? Promise.resolve(),
          );
        else {
          const handled = this.events.run(event, ctx, isRunning);
          if (handled) await handled;
        }
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
      const handled = this.events.run(toEvent(topic, partition, m), ctx, isRunning);
      if (handled) await handled;
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
}
