import { writeFileSync } from 'node:fs';

/**
 * What a benchmark reports to `npm run bench` (bench/all.ts): each metric with its unit and, where it has a
 * raw-client baseline measured in the same run on the same broker, the ratio to it (>1 is faster than raw
 * for throughputs; for latencies the ratio is raw/ours too, so >1 is always better).
 */
export interface Metric {
  name: string;
  value: number;
  unit: 'events/s' | 'ms' | 'MB' | 'count';
  ratio?: number;
}

/** Writes the metrics as JSON to `file` (the --json option of every benchmark), when given. */
export function writeMetrics(file: string | undefined, bench: string, metrics: Metric[]): void {
  if (file) writeFileSync(file, JSON.stringify({ bench, metrics }));
}
