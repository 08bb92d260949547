import type { Consumer } from 'kafkajs';
import type { CheckpointStore } from './checkpoints';
import type { PartitionState } from './types';

/**
 * Seeks every assigned partition to its checkpoint and forgets its claim (the next batch claims it
 * again): after a replay or rebind moved the checkpoints, and after a pause (events fetched but not
 * handled are fetched again). Halted partitions are resumed after an operator's control message, and
 * stay halted after a pause.
 */
export async function seekToCheckpoints(
  parts: {
    store: CheckpointStore;
    group: string;
    assignment: Record<string, number[]>;
    consumer: Consumer | undefined;
    partitions: Map<string, PartitionState>;
    halted: Set<string>;
  },
  halted: 'resume-halted' | 'keep-halted',
): Promise<void> {
  for (const [topic, partitions] of Object.entries(parts.assignment)) {
    const rows = await parts.store.list(parts.group, topic);
    for (const partition of partitions) {
      const key = `${topic}:${partition}`;
      const row = rows.find((r) => r.partition === partition);
      parts.partitions.delete(key);
      if (row) parts.consumer?.seek({ topic, partition, offset: row.kafkaOffset });
      if (halted === 'resume-halted' && parts.halted.delete(key))
        parts.consumer?.resume([{ topic, partitions: [partition] }]);
    }
  }
}

/** Stops fetching the topics (all their partitions, also ones assigned later). */
export function pauseTopics(consumer: Consumer | undefined, topics: string[]): void {
  for (const topic of topics) consumer?.pause([{ topic }]);
}

/** Fetches the topics again, except the partitions that are halted (they wait for an operator). */
export function resumeTopics(consumer: Consumer | undefined, topics: string[], halted: Set<string>): void {
  for (const topic of topics) consumer?.resume([{ topic }]);
  for (const key of halted) {
    const at = key.lastIndexOf(':');
    consumer?.pause([{ topic: key.slice(0, at), partitions: [Number(key.slice(at + 1))] }]);
  }
}
