import { AccordError, describeError } from '../errors';
import type { SqlClient } from '../infra/sql';
import type { AvroSerde } from '../schemas/serde';
import type { Logger } from '../telemetry/log';
import type { Telemetry } from '../telemetry/seam';
import type { DeadLetterSender } from './dead-letters';
import { classifyFailure, isOutage, OUTAGE_RETRY_IN_PLACE_MS } from './errors';
import { replayedDeadLetterFor } from './records';
import type { DeliveryReports } from './reports';
import type { HandlerContext, PipelineEvent, PipelineOptions } from './types';
import type { WindowTracker } from './windows';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Internal: a transactional chunk's fast pass hit a failure; run it again event by event. */
export class SlowPath extends Error {}

export interface EventProcessorDeps {
  group: string;
  serde: AvroSerde | undefined;
  windows: WindowTracker | undefined;
  stats: { processed: number };
  deadLetters: DeadLetterSender;
  telemetry: Telemetry;
  log: Logger;
}

/**
 * How one event is run: decoded, handed to the handler, retried by error type (an outage in place, a
 * failure up to maxAttempts), dead-lettered with its reason when it cannot succeed. Batches, chunks and
 * checkpoints are delivery.ts's.
 */
export class EventProcessor {
  constructor(
    private readonly options: PipelineOptions,
    private readonly deps: EventProcessorDeps,
    private readonly reports: DeliveryReports,
  ) {}

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

  /**
   * process() for at-least-once and windowed delivery, without a promise when it can be: the writer's
   * schema known and a synchronous handler that succeeded (an async call and its microtask per event were
   * a tenth of the delivery loop at 150,000 events/s). Anything else goes on along process(), the first
   * attempt's failure carried over: the handler never runs twice for one attempt.
   */
  run(
    event: PipelineEvent,
    ctx: Omit<HandlerContext, 'attempt'>,
    running: () => boolean,
  ): Promise<void> | undefined {
    if (replayedDeadLetterFor(event) !== undefined)
      return this.process(event, ctx, undefined, false, running);
    if (this.deps.serde && event.raw) {
      let decoded: ReturnType<AvroSerde['decodeKnown']>;
      try {
        decoded = this.deps.serde.decodeKnown(event.raw);
      } catch {
        decoded = undefined; // process() decodes again and dead-letters it with the reason
      }
      if (!decoded) return this.process(event, ctx, undefined, false, running);
      event.value = decoded.value;
      event.schemaId = decoded.schemaId;
      event.schemaName = decoded.schemaName;
    }
    const started = performance.now();
    let handled: Promise<void> | undefined;
    try {
      handled = this.handle(event, { ...ctx, attempt: 1 });
    } catch (error) {
      return this.process(event, ctx, undefined, false, running, { error, started });
    }
    if (handled)
      return handled.then(
        () => this.succeeded(event, 1, started),
        (error: unknown) => this.process(event, ctx, undefined, false, running, { error, started }),
      );
    this.succeeded(event, 1, started);
    return undefined;
  }

  private succeeded(event: PipelineEvent, attempt: number, started: number): void {
    this.deps.stats.processed++;
    this.reports.attemptEnded(event, attempt, started, 'ok');
  }

  /**
   * Decodes and runs the handler, retrying by error type, dead-lettering what cannot succeed. With `fast`
   * (transactional first pass, no savepoints), any failure throws SlowPath instead: the chunk is rolled
   * back and run again event by event with savepoints, so one bad event never keeps another's writes.
   */
  async process(
    event: PipelineEvent,
    ctx: Omit<HandlerContext, 'attempt'>,
    savepoint?: SqlClient,
    fast = false,
    running: () => boolean = () => true,
    /** run()'s first attempt failed (the event was decoded): attempt 1 ends with this error. */
    firstAttempt?: { error: unknown; started: number },
  ): Promise<void> {
    const replayFor = replayedDeadLetterFor(event);
    if (replayFor !== undefined && replayFor !== this.deps.group) return; // another group's dead letter, sent back
    if (this.deps.serde && event.raw && !firstAttempt) {
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
      this.succeeded(event, 1, started);
      return;
    }
    const maxAttempts = this.options.maxAttempts ?? 3;
    let outageSince: number | undefined;
    for (let attempt = 1; ; attempt++) {
      let started = performance.now();
      try {
        if (attempt === 1 && firstAttempt) {
          started = firstAttempt.started;
          throw firstAttempt.error;
        }
        if (savepoint) await savepoint.query('savepoint accord_event');
        const handled = this.handle(event, { ...ctx, attempt });
        if (handled) await handled;
        if (savepoint) await savepoint.query('release savepoint accord_event');
        this.succeeded(event, attempt, started);
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

  private async deadLetter(event: PipelineEvent, error: unknown, attempts: number): Promise<void> {
    await this.deps.deadLetters.send(event, error, attempts);
    this.reports.deadLettered(event, error, attempts);
  }
}
