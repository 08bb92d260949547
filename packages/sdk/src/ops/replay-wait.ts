import type { PartitionLag } from './lag';
import type { ReplayPlan } from './replay';

export interface ReplayProgress {
  /** Events re-processed so far, of `total`. */
  done: number;
  total: number;
  /** Partitions still replaying. */
  pending: number;
}

export type ReplayWaitOutcome = ReplayProgress & {
  /** caught-up: every partition is past its replay; stopped: the pipeline stopped running first; timeout. */
  outcome: 'caught-up' | 'stopped' | 'timeout';
  seconds: number;
};

/** How far a plan is, from the group's lag rows: a partition is done when its replay is cleared. */
export function replayProgress(plan: ReplayPlan, rows: PartitionLag[]): ReplayProgress {
  let done = 0;
  let pending = 0;
  for (const p of plan.partitions) {
    const r = rows.find((x) => x.topic === p.topic && x.partition === p.partition);
    if (p.events === 0 || !r || !r.replaying) {
      done += p.events;
      continue;
    }
    pending++;
    done += Math.max(0, Math.min(p.events, Number(BigInt(r.checkpoint) - BigInt(p.to))));
  }
  return { done, total: plan.partitions.reduce((sum, p) => sum + p.events, 0), pending };
}

/**
 * Waits until every partition of a running plan is past its replay, telling `onProgress` after each look
 * (every `intervalMs`). Two looks in a row without members count as stopped, so that a rebalance (briefly
 * no members) is not mistaken for a stop.
 */
export async function awaitReplay(
  look: { lag: () => Promise<PartitionLag[]>; isRunning: () => Promise<boolean> },
  plan: ReplayPlan,
  options: { timeoutMs: number; intervalMs?: number; onProgress?: (progress: ReplayProgress) => void },
): Promise<ReplayWaitOutcome> {
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  let notRunning = 0;
  for (;;) {
    const progress = replayProgress(plan, await look.lag());
    options.onProgress?.(progress);
    if (progress.pending === 0) return { ...progress, outcome: 'caught-up', seconds: seconds() };
    notRunning = (await look.isRunning()) ? 0 : notRunning + 1;
    if (notRunning >= 2) return { ...progress, outcome: 'stopped', seconds: seconds() };
    if (Date.now() - started > options.timeoutMs)
      return { ...progress, outcome: 'timeout', seconds: seconds() };
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
  }
}
