import type { KafkaMessage } from 'kafkajs';
import type { PartitionState } from './types';

/** One partition's slice of a fetched batch, with kafkajs' controls for it. */
export interface Batch {
  topic: string;
  partition: number;
  state: PartitionState;
  messages: KafkaMessage[];
  isRunning: () => boolean;
  isStale: () => boolean;
  heartbeat: () => Promise<void>;
}

/**
 * kafkajs' isStale() (a seek was asked for this partition) builds a key and looks it up on every call: a
 * quarter of the delivery loop's own time in profiles. It is asked every STALE_EVERY events instead (and at
 * every chunk): events handled after a seek are handled again from the checkpoint, and the checkpoint of a
 * claim a seek replaced is refused by its epoch, so asking less often only re-handles a few events.
 */
const STALE_EVERY = 32;
export const staleAt = (i: number, isStale: () => boolean) => i % STALE_EVERY === 0 && isStale();
