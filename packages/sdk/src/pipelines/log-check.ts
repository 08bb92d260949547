import type { LogRef } from './checkpoints';

/**
 * Pure decisions about a checkpoint and the log it should point into. No I/O: the pipeline, `accord lag`
 * and `accord checkpoints rebind` feed it what they read and act on the verdict.
 */

/** What happens when a checkpoint falls outside the log: stop the partition, or move to the first offset still there. */
export type OutOfRangePolicy = 'fail' | 'earliest';

export type PositionVerdict =
  | { kind: 'ok' }
  /** The checkpoint has no identity yet (written before identities were recorded): bind it to this log. */
  | { kind: 'unbound' }
  | { kind: 'identity-changed'; saved: LogRef; live: LogRef }
  | { kind: 'out-of-range'; where: 'before-start' | 'past-end' };

export interface PositionFacts {
  checkpoint: bigint;
  saved: LogRef | null;
  live: LogRef;
  logStart: bigint;
  logEnd: bigint;
}

export function sameLog(saved: LogRef, live: LogRef): boolean {
  if (saved.clusterId !== live.clusterId) return false;
  // Without a topic id on either side (a broker that could not tell), the cluster id alone decides.
  return saved.topicId === null || live.topicId === null || saved.topicId === live.topicId;
}

export function checkPosition(f: PositionFacts): PositionVerdict {
  if (f.saved && !sameLog(f.saved, f.live)) return { kind: 'identity-changed', saved: f.saved, live: f.live };
  if (f.checkpoint < f.logStart) return { kind: 'out-of-range', where: 'before-start' };
  if (f.checkpoint > f.logEnd) return { kind: 'out-of-range', where: 'past-end' };
  return f.saved ? { kind: 'ok' } : { kind: 'unbound' };
}

export type OutOfRangeAction =
  | { action: 'halted' }
  /** Move the checkpoint to `to`; `lost` offsets were deleted before they were processed. */
  | { action: 'moved'; to: bigint; lost: bigint };

/**
 * Before the start: the offsets in between were deleted (retention) before they were processed: `earliest`
 * moves to the log start and records them as lost. Past the end: the log was truncated or replaced; the
 * offsets from the new end on will hold events never seen, so `earliest` resumes at the log end (nothing
 * is lost that still exists).
 */
export function outOfRangeAction(
  policy: OutOfRangePolicy,
  where: 'before-start' | 'past-end',
  facts: Pick<PositionFacts, 'checkpoint' | 'logStart' | 'logEnd'>,
): OutOfRangeAction {
  if (policy === 'fail') return { action: 'halted' };
  return where === 'before-start'
    ? { action: 'moved', to: facts.logStart, lost: facts.logStart - facts.checkpoint }
    : { action: 'moved', to: facts.logEnd, lost: 0n };
}

function describeRef(ref: LogRef): string {
  return `cluster ${ref.clusterId}${ref.topicId ? ` topic id ${ref.topicId}` : ''}`;
}

export function rebindHint(group: string): string {
  return `resolve with: accord checkpoints rebind ${group} --from earliest|latest|<ISO time>`;
}

/** One line that says what is wrong with a partition and what resolves it. */
export function describeVerdict(
  verdict: PositionVerdict,
  f: Pick<PositionFacts, 'checkpoint' | 'logStart' | 'logEnd'>,
  group: string,
): string {
  switch (verdict.kind) {
    case 'ok':
      return 'the checkpoint points into the live log';
    case 'unbound':
      return `checkpoint ${f.checkpoint} had no log identity: bound to the live log`;
    case 'identity-changed':
      return `checkpoint ${f.checkpoint} belongs to ${describeRef(verdict.saved)}, but the log is now ${describeRef(verdict.live)}: refusing to process this partition; ${rebindHint(group)}`;
    case 'out-of-range':
      return verdict.where === 'before-start'
        ? `checkpoint ${f.checkpoint} is before the log start ${f.logStart} (offsets ${f.checkpoint}..${f.logStart - 1n} were deleted before they were processed)`
        : `checkpoint ${f.checkpoint} is past the log end ${f.logEnd} (the log was truncated or replaced)`;
  }
}

export type PartitionHealth =
  | 'halted'
  | 'identity changed'
  | 'before log start'
  | 'past log end'
  | 'STUCK'
  | 'replaying'
  | 'behind'
  | 'caught up';

/** The state `accord lag` and `accord checkpoints` show: a checkpoint outside its log is never "caught up". */
export function partitionHealth(p: {
  halted: boolean;
  verdict: PositionVerdict['kind'] | 'out-of-range:before-start' | 'out-of-range:past-end';
  lag: bigint;
  stuck: boolean;
  replaying: boolean;
}): PartitionHealth {
  if (p.halted) return 'halted';
  if (p.verdict === 'identity-changed') return 'identity changed';
  if (p.verdict === 'out-of-range:before-start') return 'before log start';
  if (p.verdict === 'out-of-range:past-end') return 'past log end';
  if (p.stuck) return 'STUCK';
  if (p.replaying) return 'replaying';
  return p.lag > 0n ? 'behind' : 'caught up';
}
