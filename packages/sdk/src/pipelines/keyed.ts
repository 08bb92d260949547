/**
 * Runs tasks concurrently across keys and in order within a key, at most `limit` at once (option
 * keyConcurrency). An agent's handler waits for its decision (milliseconds); one event at a time per
 * partition capped a partition at a few hundred events/s. Entities are keys, so per-entity order holds.
 *
 * After a task fails, no task of its key runs after it (the chain rejects), no new task starts (add
 * throws the failure), and drain() throws it once everything started has ended: the caller moves no
 * checkpoint past events that did not all succeed.
 */
export class KeyedRunner {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  async add(key: string, task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.failure) throw this.failure.error;
    const run = (this.tails.get(key) ?? Promise.resolve()).then(task);
    this.tails.set(key, run);
    const tracked: Promise<void> = run
      .then(
        () => {},
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => {
        this.running.delete(tracked);
        if (this.tails.get(key) === run) this.tails.delete(key);
      });
    this.running.add(tracked);
  }

  /** Waits for every task started; throws the first failure (once). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure.error;
  }
}
