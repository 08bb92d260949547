import { describeError } from '../errors';
import type { Logger } from '../telemetry/log';
import type { CheckpointStore, CheckpointType } from './checkpoints';
import { OUTAGE_RETRY_IN_PLACE_MS } from './errors';
import type { PartitionState } from './types';

/** A position handled but not yet written: the newest per partition replaces the one before. */
export interface DeferredCheckpoint {
  topic: string;
  partition: number;
  state: PartitionState;
  next: bigint;
  type: CheckpointType;
  value: string;
}

export interface CheckpointWriterDeps {
  group: string;
  store: CheckpointStore;
  everyMs: number;
  log: Logger;
  /** Written: report it and mirror it to Kafka. */
  written: (moved: DeferredCheckpoint[]) => Promise<void>;
  /** Refused by its epoch: another claim holds the partition now (the state is dropped, as when fenced inline). */
  fenced: (refused: DeferredCheckpoint) => void;
}

/**
 * Deferred checkpoints for at-least-once pipelines (option `checkpointEveryMs`). Writing a checkpoint per
 * partition batch cost a Postgres and a Kafka round trip each, waited for before the next batch: at 2,000
 * events/s a batch held ~3 events, and those writes were most of a feature's staleness (p95 35-50 ms; 10-13
 * ms without them). Here the position moves in memory at once and every partition's newest position is
 * written on a timer, all in one statement, then mirrored to Kafka in one commit.
 *
 * At least once still holds: a written position is never past what was handled, so a crash re-processes at
 * most the interval's events. Writes are serialised (one chain), so a partition's checkpoint never moves
 * back. A pending position is written before anything else touches that partition's row (a claim, a
 * replay's end), before the pipeline stops, and when pausing. While Postgres refuses, processing goes on
 * and the newest position waits; past OUTAGE_RETRY_IN_PLACE_MS the batch path stops (`mustWait`) and the
 * consumer restarts from its checkpoint, as without deferral.
 */
export class CheckpointWriter {
  private readonly pending = new Map<string, DeferredCheckpoint>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failingSince: number | undefined;

  constructor(private readonly deps: CheckpointWriterDeps) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.pending.size === 0) return;
      this.flush().catch(() => {}); // logged by write(); the next tick tries again
    }, this.deps.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  defer(checkpoint: DeferredCheckpoint): void {
    this.pending.set(`${checkpoint.topic}:${checkpoint.partition}`, checkpoint);
  }

  /** Postgres has refused checkpoints for longer than a batch may go on without one. */
  get mustWait(): boolean {
    return this.failingSince !== undefined && Date.now() - this.failingSince > OUTAGE_RETRY_IN_PLACE_MS;
  }

  /** Writes what is pending (one partition's, or all), after any write already under way. */
  flush(key?: string): Promise<void> {
    const run = this.chain.then(() => this.write(key));
    this.chain = run.catch(() => {});
    return run;
  }

  private async write(key: string | undefined): Promise<void> {
    const taken: DeferredCheckpoint[] = [];
    for (const [k, c] of this.pending)
      if (key === undefined || k === key) {
        taken.push(c);
        this.pending.delete(k);
      }
    if (taken.length === 0) return;
    let moved: Set<string>;
    try {
      moved = await this.deps.store.advanceMany(
        this.deps.group,
        taken.map((c) => ({ ...c, epoch: c.state.epoch })),
      );
    } catch (error) {
      // Put back what no newer position replaced meanwhile.
      for (const c of taken) {
        const k = `${c.topic}:${c.partition}`;
        if (!this.pending.has(k)) this.pending.set(k, c);
      }
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        this.deps.log.warn(
          { error: describeError(error), partitions: taken.length },
          'checkpoints cannot be written: processing goes on, the positions wait (re-processed after a crash)',
        );
      }
      throw error;
    }
    if (this.failingSince !== undefined) {
      this.deps.log.info({ waitedMs: Date.now() - this.failingSince }, 'checkpoints are written again');
      this.failingSince = undefined;
    }
    const written = taken.filter((c) => moved.has(`${c.topic}:${c.partition}`));
    for (const c of taken) if (!moved.has(`${c.topic}:${c.partition}`)) this.deps.fenced(c);
    await this.deps.written(written);
  }
}
