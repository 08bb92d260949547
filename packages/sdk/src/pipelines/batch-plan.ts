import type { KafkaMessage } from 'kafkajs';
import type { PartitionState } from './types';

/** What to do with a fetched batch of one partition, given what the instance knows of the partition. */
export type BatchPlan =
  /** Kafka's position differs from the checkpoint: go back to the checkpoint (the source of truth). */
  | { kind: 'realign' }
  /** A bounded replay reached its end: jump back to where the pipeline was. */
  | { kind: 'end-replay'; resume: bigint }
  | { kind: 'deliver'; messages: KafkaMessage[] }
  | { kind: 'nothing' };

/**
 * Pure: which messages of a batch are delivered. Kafka's position can differ from the checkpoint (the
 * table was moved back by a replay, the mirror lagged behind when a consumer died, or a fetch met
 * OFFSET_OUT_OF_RANGE and kafkajs reset it); a bounded replay delivers only up to replayUntil.
 */
export function planBatch(state: PartitionState, batch: KafkaMessage[]): BatchPlan {
  const first = batch[0];
  if (!first) return { kind: 'nothing' };
  const last = batch[batch.length - 1];
  const position = fetchPosition(state);
  if (BigInt(first.offset) > position || (last && BigInt(last.offset) < position)) return { kind: 'realign' };
  let messages =
    BigInt(first.offset) === position ? batch : batch.filter((m) => BigInt(m.offset) >= position);
  if (
    state.replayUntil !== undefined &&
    state.replayResume !== undefined &&
    state.replayUntil < state.replayResume
  ) {
    const until = state.replayUntil;
    messages = messages.filter((m) => BigInt(m.offset) < until);
    if (messages.length === 0 && state.next >= until)
      return { kind: 'end-replay', resume: state.replayResume };
  }
  return messages.length ? { kind: 'deliver', messages } : { kind: 'nothing' };
}

/**
 * Where the partition's next event is: the checkpoint, or for a windowed pipeline the event after the
 * last one folded into the open window (the checkpoint stays at the window's first event until it closes).
 */
export function fetchPosition(state: PartitionState): bigint {
  return state.folded ?? state.next;
}
