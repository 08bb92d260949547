/**
 * A small latency histogram (exact up to `capacity` samples, then a uniform reservoir), for staleness and
 * latency percentiles. Never throws into business code.
 */
export class Histogram {
  private samples: number[] = [];
  private seen = 0;
  constructor(
    readonly name: string,
    private readonly capacity = 10_000,
  ) {}

  record(value: number): void {
    if (!Number.isFinite(value)) return;
    this.seen++;
    if (this.samples.length < this.capacity) this.samples.push(value);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < this.capacity) this.samples[i] = value;
    }
  }

  get count(): number {
    return this.seen;
  }

  percentile(p: number): number | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[index];
  }

  summary(): { count: number; p50?: number; p95?: number; p99?: number; max?: number } {
    const p50 = this.percentile(50);
    if (p50 === undefined) return { count: 0 };
    return {
      count: this.seen,
      p50,
      p95: this.percentile(95)!,
      p99: this.percentile(99)!,
      max: this.percentile(100)!,
    };
  }

  reset(): void {
    this.samples = [];
    this.seen = 0;
  }
}
