import type { Admin } from 'kafkajs';

/**
 * A pipeline's topics: a fixed list, or a pattern. kafkajs resolves a RegExp subscription once, so a
 * pattern is matched against the topics that exist at start and again every `everyMs`; when new ones
 * appear, `onAdded` restarts the consumer on the longer list (their partitions start at their start).
 */
export class TopicSubscription {
  private subscribed: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly topics: string[] | RegExp,
    private readonly admin: () => Admin,
  ) {}

  /** The topics to subscribe to now (internal `__` topics never match a pattern). */
  async resolve(): Promise<string[]> {
    if (!(this.topics instanceof RegExp)) return this.topics;
    const pattern = this.topics;
    const all = await this.admin().listTopics();
    return all.filter((t) => pattern.test(t) && !t.startsWith('__')).sort();
  }

  /** The topics the consumer runs on. */
  current(): string[] {
    return this.subscribed;
  }

  /** The consumer now runs on these topics. */
  subscribedTo(topics: string[]): void {
    this.subscribed = topics;
  }

  /** For a pattern: looks for new matching topics every `everyMs` (one look at a time) until stop(). */
  watch(
    everyMs: number,
    onAdded: (all: string[], added: string[]) => Promise<void>,
    onError: (error: unknown) => void,
  ): void {
    if (!(this.topics instanceof RegExp)) return;
    this.timer = setInterval(() => {
      this.running ??= (async () => {
        const all = await this.resolve();
        const added = all.filter((t) => !this.subscribed.includes(t));
        if (added.length) await onAdded(all, added);
      })()
        .catch(onError)
        .finally(() => {
          this.running = undefined;
        });
    }, everyMs);
    this.timer.unref();
  }

  /** Stops watching; resolves once a look in progress has finished. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
