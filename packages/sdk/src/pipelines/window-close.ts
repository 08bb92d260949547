import type { SideEffectJournal } from '../agents/side-effects';
import type { SqlPool } from '../infra/sql';
import { inTransaction } from '../infra/transaction';
import type { CheckpointStore } from './checkpoints';
import { FencedError } from './errors';
import type { PartitionState, PipelineMode, PipelineOptions } from './types';
import { type ClosedWindow, windowValue } from './windows';

/** What closing a window needs: the pipeline's identity and stores, the window's close, where it ends. */
export interface WindowClose {
  name: string;
  group: string;
  mode: PipelineMode;
  pool: SqlPool;
  store: CheckpointStore;
  journal: SideEffectJournal;
  close: NonNullable<PipelineOptions['window']>['close'];
  state: PartitionState;
  closed: ClosedWindow<unknown>;
  next: bigint;
}

/**
 * Runs the window's close and moves the checkpoint to `next` (type window), in one transaction when the
 * pipeline is transactional. Side effects go through the journal, keyed by the window, so a close run
 * again after a crash does not repeat them. A claim lost meanwhile (stale epoch) fails with FencedError.
 */
export async function closeWindow(w: WindowClose): Promise<void> {
  const { topic, partition } = w.closed;
  const position = { group: w.group, topic, partition, epoch: w.state.epoch };
  const value = windowValue(w.closed.start, w.closed.end);
  const windowId = `${topic}:${partition}:${value}`;
  const ctx = {
    pipeline: w.name,
    group: w.group,
    sideEffect: <T>(name: string, call: () => Promise<T> | T) => w.journal.run(windowId, name, call, false),
  };
  const fenced = () =>
    new FencedError(
      `${w.group} lost ${topic}[${partition}] (epoch ${w.state.epoch} is stale): window not closed`,
    );
  if (w.mode === 'transactional') {
    await inTransaction(w.pool, async (tx) => {
      await w.close(w.closed, { ...ctx, tx });
      if (!(await w.store.advance(tx, position, w.next, 'window', value))) throw fenced();
    });
  } else {
    await w.close(w.closed, ctx);
    if (!(await w.store.advance(w.pool, position, w.next, 'window', value))) throw fenced();
  }
}
