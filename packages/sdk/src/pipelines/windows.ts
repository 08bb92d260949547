import { AccordError } from '../errors';
import type { SqlClient } from '../infra/sql';
import type { PipelineEvent } from './pipeline';

/**
 * Windowed pipelines: events of a partition are folded into tumbling windows of event time (the record
 * timestamp), and the checkpoint moves only when a window closes: its type is `window`, its value the
 * closed window (`<start ISO>/<end ISO>`), its offset the first event of the next window. After a restart
 * or a rebalance the pipeline resumes right after its last closed window and folds the open one again
 * from its first event, so nothing is counted twice in process memory and nothing is skipped.
 *
 * A window closes when the partition's first event of a later window arrives (event time moves forward).
 * An event whose time falls in an already-closed window (out of order within the partition) is folded into
 * the open window, never dropped: `late` counts them.
 */
export interface WindowOptions<S> {
  /** Window length in ms (tumbling, aligned to the epoch). */
  sizeMs: number;
  /** A new window's state. */
  init: () => S;
  /** Folds one event into the state (the pipeline keeps the state; retries and dead letters as for handlers). */
  add: (state: S, event: PipelineEvent) => S;
  /**
   * A window closed. Transactional pipelines get `tx`: what `close` writes commits with the checkpoint,
   * so each window's output lands exactly once; at-least-once pipelines may see a window closed again
   * after a crash between close and checkpoint.
   */
  close: (window: ClosedWindow<S>, ctx: WindowContext) => Promise<void> | void;
}

export interface WindowContext {
  pipeline: string;
  group: string;
  /** Transactional pipelines: what is written with it commits with the checkpoint. */
  tx?: SqlClient;
  /**
   * An external call (a model that summarizes the window…) journaled per (pipeline, window, name) in
   * agent_side_effects: made once; a close run again (a crash before the checkpoint committed, a
   * rebalance) gets the recorded result instead of calling again. Put the logic's version in the name,
   * so that changed logic calls again.
   */
  sideEffect<T>(name: string, call: () => Promise<T> | T): Promise<T>;
}

export interface ClosedWindow<S> {
  topic: string;
  partition: number;
  /** ms since the epoch; end is exclusive. */
  start: number;
  end: number;
  state: S;
  events: number;
  /** Events whose time fell in an earlier window, folded into this one. */
  late: number;
}

/** Types a window definition (its state stays typed inside; the pipeline keeps it opaque). */
export function defineWindow<S>(window: WindowOptions<S>): WindowOptions<unknown> {
  if (!Number.isInteger(window?.sizeMs) || window.sizeMs < 1)
    throw new AccordError('PIPELINE_INVALID', 'option window.sizeMs must be a positive integer (ms)');
  for (const fn of ['init', 'add', 'close'] as const)
    if (typeof window[fn] !== 'function')
      throw new AccordError('PIPELINE_INVALID', `option window.${fn} must be a function`);
  return window as unknown as WindowOptions<unknown>;
}

export function windowStart(time: number, sizeMs: number): number {
  return Math.floor(time / sizeMs) * sizeMs;
}

/** The checkpoint value of a closed window: an ISO 8601 interval. */
export function windowValue(start: number, end: number): string {
  return `${new Date(start).toISOString()}/${new Date(end).toISOString()}`;
}

interface OpenWindow {
  start: number;
  state: unknown;
  events: number;
  late: number;
}

/** The open window of each partition this instance holds. */
export class WindowTracker {
  private readonly open = new Map<string, OpenWindow>();

  constructor(private readonly options: WindowOptions<unknown>) {}

  /** The window that the event at `time` closes, if any (the caller closes it, then calls `drop`). */
  closedBy(topic: string, partition: number, time: number): ClosedWindow<unknown> | undefined {
    const open = this.open.get(`${topic}:${partition}`);
    if (!open || windowStart(time, this.options.sizeMs) <= open.start) return undefined;
    return {
      topic,
      partition,
      start: open.start,
      end: open.start + this.options.sizeMs,
      state: open.state,
      events: open.events,
      late: open.late,
    };
  }

  add(event: PipelineEvent): void {
    const key = `${event.topic}:${event.partition}`;
    const start = windowStart(Number(event.timestamp), this.options.sizeMs);
    let open = this.open.get(key);
    if (!open) {
      open = { start, state: this.options.init(), events: 0, late: 0 };
      this.open.set(key, open);
    }
    if (start < open.start) open.late++;
    open.state = this.options.add(open.state, event);
    open.events++;
  }

  /** Forgets a partition's open window: after a close, or when the partition is claimed again. */
  drop(topic: string, partition: number): void {
    this.open.delete(`${topic}:${partition}`);
  }
}
