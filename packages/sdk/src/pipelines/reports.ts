import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import type { CheckpointType } from './checkpoints';
import { errorCodeOf } from './errors';
import type { PipelineEvent } from './types';

/**
 * What delivery tells the world: lifecycle events on the telemetry seam (built only when someone
 * listens) and the log lines that must never be missed (a dead letter is always logged).
 */
export class DeliveryReports {
  constructor(
    private readonly deps: {
      name: string;
      group: string;
      telemetry: Telemetry;
      log: Logger;
      stats: { deadLettered: number };
    },
  ) {}

  /** One attempt at one event ended: for metrics and logs. */
  attemptEnded(
    event: PipelineEvent,
    attempt: number,
    started: number,
    outcome: 'ok' | 'retry' | 'dead-letter',
    error?: unknown,
  ): void {
    if (!this.deps.telemetry.listening) return;
    this.deps.telemetry.emit({
      type: 'attempt.end',
      pipeline: this.deps.name,
      group: this.deps.group,
      topic: event.topic,
      partition: event.partition,
      offset: event.offset,
      attempt,
      outcome,
      durationMs: performance.now() - started,
      ...(error === undefined ? {} : { error }),
    });
  }

  checkpointed(topic: string, partition: number, next: bigint, type: CheckpointType): void {
    if (!this.deps.telemetry.listening) return;
    this.deps.telemetry.emit({
      type: 'checkpointed',
      pipeline: this.deps.name,
      group: this.deps.group,
      topic,
      partition,
      offset: next.toString(),
      checkpointType: type,
    });
  }

  /** After the dead letter was sent (it is in `<group>.dlq` with its reason). */
  deadLettered(event: PipelineEvent, error: unknown, attempts: number): void {
    this.deps.stats.deadLettered++;
    const { topic, partition, offset } = event;
    this.deps.log.warn({ topic, partition, offset, attempts, error }, 'dead-lettered');
    this.deps.telemetry.emit({
      type: 'dead-lettered',
      pipeline: this.deps.name,
      group: this.deps.group,
      topic,
      partition,
      offset,
      errorCode: errorCodeOf(error),
      attempts,
    });
  }
}
