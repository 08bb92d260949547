import { deterministicId } from '@accord/sdk';

/**
 * The anomaly detector's logic, pure: per (service, logic), an exponentially weighted mean and variance of
 * the errors per window; a window whose errors stand far above that baseline (after a warm-up) is an
 * anomaly. Anomalous windows do not move the baseline, so a long incident stays visible to its end.
 */
export interface Baseline {
  windows: number;
  mean: number;
  variance: number;
}

export interface DetectOptions {
  /** Windows seen before anything is flagged. Default 5. */
  warmup?: number;
  /** Standard deviations above the mean. Default 4. */
  threshold?: number;
  /** Fewer errors than this are never an anomaly. Default 5. */
  minErrors?: number;
  /** Weight of the newest window in the baseline. Default 0.2. */
  alpha?: number;
}

export interface Verdict {
  anomaly: { metric: 'errors'; observed: number; expected: number; score: number } | undefined;
  baseline: Baseline;
}

export function errorsOf(countsByLevel: Record<string, number>): number {
  return (countsByLevel.ERROR ?? 0) + (countsByLevel.FATAL ?? 0);
}

export function detect(
  baseline: Baseline | undefined,
  countsByLevel: Record<string, number>,
  options: DetectOptions = {},
): Verdict {
  const observed = errorsOf(countsByLevel);
  const b = baseline ?? { windows: 0, mean: observed, variance: 0 };
  const score = (observed - b.mean) / Math.max(Math.sqrt(b.variance), 1);
  const flagged =
    b.windows >= (options.warmup ?? 5) &&
    observed >= (options.minErrors ?? 5) &&
    score >= (options.threshold ?? 4);
  if (flagged)
    return {
      anomaly: { metric: 'errors', observed, expected: round(b.mean), score: round(score) },
      baseline: b,
    };
  const alpha = options.alpha ?? 0.2;
  const delta = observed - b.mean;
  const mean = b.windows === 0 ? observed : b.mean + alpha * delta;
  const variance = b.windows === 0 ? 0 : (1 - alpha) * (b.variance + alpha * delta * delta);
  return { anomaly: undefined, baseline: { windows: b.windows + 1, mean, variance } };
}

export function anomalyId(summaryId: string, metric: string): string {
  return deterministicId('log-anomaly', summaryId, metric);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
