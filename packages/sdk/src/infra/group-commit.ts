/**
 * Group commit: items submitted while a batch is out leave together in the next one, so a burst costs
 * a round trip or two instead of one each, and an idle queue sends at once (no timer, no added wait).
 * Each submission resolves with its own result once its batch is done, or fails with its batch.
 */
export class GroupCommit<T, R> {
  private queued: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private busy = false;

  constructor(
    /** Sends a batch; resolves with one result per item, in order. */
    private readonly send: (items: T[]) => Promise<R[]>,
    /** Items a batch carries at most (a backlog's burst leaves in several). */
    private readonly maxItems = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.splice(0, this.maxItems);
        try {
          const results = await this.send(batch.map((b) => b.item));
          for (const [i, b] of batch.entries()) b.resolve(results[i] as R);
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
