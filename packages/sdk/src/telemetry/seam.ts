import type { Incident } from '../pipelines/checkpoints';

/**
 * The one seam for cross-cutting work (logs, metrics, tracing): lifecycle events that components emit,
 * and interceptors around the handling of an event. Nothing here ever throws into business code: a
 * listener that throws is ignored (and reported to the `onListenerError` hook), an interceptor that fails
 * on its own is stepped over, and an error from the business code always reaches its caller unchanged.
 */
export type LifecycleEvent =
  | {
      type: 'attempt.end';
      pipeline: string;
      group: string;
      topic: string;
      partition: number;
      offset: string;
      attempt: number;
      outcome: 'ok' | 'retry' | 'dead-letter';
      durationMs: number;
      error?: unknown;
    }
  | {
      type: 'dead-lettered';
      pipeline: string;
      group: string;
      topic: string;
      partition: number;
      offset: string;
      errorCode: string;
      attempts: number;
    }
  | {
      type: 'checkpointed';
      pipeline: string;
      group: string;
      topic: string;
      partition: number;
      /** The next offset to consume. */
      offset: string;
      checkpointType: 'offset' | 'timestamp' | 'window';
    }
  | { type: 'fenced'; pipeline: string; group: string; topic: string; partition: number; epoch: number }
  | { type: 'incident'; incident: Incident }
  | { type: 'consumer.crashed'; pipeline: string; group: string; error: unknown }
  | {
      type: 'decided';
      entityType: string;
      entityId: string;
      proposalId: string;
      decisionId: string;
      agent: string;
      outcome: 'ACCEPTED' | 'REJECTED' | 'ESCALATED';
      compensates: boolean;
      /** The proposal expected a version the entity had moved past (a conflict the owner detected). */
      conflicting: boolean;
      /** From the proposal's creation to the decision's commit (ms). */
      latencyMs: number;
    }
  | {
      type: 'agent.handled';
      agent: string;
      eventId: string;
      /** proposed: it proposed; idle: it decided nothing; refused: context too stale; failed: it threw. */
      outcome: 'proposed' | 'idle' | 'refused' | 'failed';
      /** From the triggering event's append to the end of the agent's handling (ms): its decision latency. */
      latencyMs: number;
      /** The stalest feature it read (ms), null when it read none. */
      stalenessMs: number | null;
      proposals: number;
    }
  | {
      type: 'lag';
      pipeline: string;
      group: string;
      topic: string;
      partition: number;
      /** Records behind the partition's high watermark after this batch. */
      lag: number;
    }
  | {
      type: 'features.written';
      group: string;
      updates: number;
      /** Appended to Kafka → visible in Redis, per update (ms). */
      endToEndMs: number[];
    }
  | { type: 'features.read'; entityType: string; entities: number; latencyMs: number; stalenessMs: number[] };

export type LifecycleListener = (event: LifecycleEvent) => void;

/** Runs around the handling of one event; calls `next` once to go on. */
export type Interceptor<C> = (ctx: C, next: () => Promise<void>) => Promise<void>;

export interface HandleContext {
  pipeline: string;
  group: string;
  topic: string;
  partition: number;
  offset: string;
  headers: Record<string, string>;
  attempt: number;
  replay: boolean;
}

/** One partition's batch (or transactional chunk) about to be delivered. */
export interface BatchContext {
  pipeline: string;
  group: string;
  topic: string;
  partition: number;
  /** Each record's headers, in order (for span links). */
  headers: () => Record<string, string>[];
}

export class Telemetry {
  private readonly listeners = new Set<LifecycleListener>();
  private readonly handleInterceptors: Interceptor<HandleContext>[] = [];
  private readonly batchInterceptors: Interceptor<BatchContext>[] = [];

  constructor(private readonly onListenerError: (error: unknown) => void = () => {}) {}

  /** Listens to every lifecycle event; returns the function that stops listening. */
  on(listener: LifecycleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds an interceptor around every handler call (outermost first). */
  aroundHandle(interceptor: Interceptor<HandleContext>): void {
    this.handleInterceptors.push(interceptor);
  }

  /** Adds an interceptor around the delivery of every batch (outermost first). */
  aroundBatch(interceptor: Interceptor<BatchContext>): void {
    this.batchInterceptors.push(interceptor);
  }

  /** Tells every listener; never throws. */
  emit(event: LifecycleEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        try {
          this.onListenerError(error);
        } catch {
          // a broken error hook must not break business code either
        }
      }
    }
  }

  /** Cheap checks, so that the hot path costs nothing when telemetry is off. */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  get intercepting(): boolean {
    return this.handleInterceptors.length > 0;
  }

  get interceptingBatches(): boolean {
    return this.batchInterceptors.length > 0;
  }

  /** Runs `core` inside the handle interceptors. */
  handle(ctx: HandleContext, core: () => Promise<void>): Promise<void> {
    return intercept(this.handleInterceptors, ctx, core);
  }

  /** Runs `core` (one batch's delivery) inside the batch interceptors. */
  batch(ctx: BatchContext, core: () => Promise<void>): Promise<void> {
    return intercept(this.batchInterceptors, ctx, core);
  }
}

/**
 * Composes interceptors around `core`. The business error (from `core`) always propagates as it was; an
 * interceptor's own failure does not: if it fails before calling `next`, the chain goes on without it; if
 * it fails after, its error is dropped.
 */
export async function intercept<C>(
  chain: Interceptor<C>[],
  ctx: C,
  core: () => Promise<void>,
): Promise<void> {
  const run = async (i: number): Promise<void> => {
    const interceptor = chain[i];
    if (!interceptor) return core();
    let called = false;
    let inner: { error: unknown } | undefined;
    try {
      await interceptor(ctx, async () => {
        if (called) return; // a second call to next is ignored: the handler runs once
        called = true;
        try {
          await run(i + 1);
        } catch (error) {
          inner = { error };
          throw error;
        }
      });
    } catch {
      if (!called) return run(i + 1);
    }
    if (!called) return run(i + 1); // an interceptor that forgot next does not stop the handler
    if (inner) throw inner.error;
  };
  return run(0);
}
