import type { IHeaders, KafkaMessage } from 'kafkajs';
import { DLQ_REPLAY_HEADER, type PipelineEvent } from './types';

export function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

/** Events sent back by `accord dlq replay`, and the group they are meant for. */
const dlqReplayFor = new WeakMap<PipelineEvent, string>();

/** The group a dead letter sent back by `accord dlq replay` is meant for (other groups skip it). */
export function replayedDeadLetterFor(event: PipelineEvent): string | undefined {
  return dlqReplayFor.get(event);
}

/** A Kafka record as handlers see it (headers converted on first use: most handlers never read them). */
export function toEvent(topic: string, partition: number, m: KafkaMessage): PipelineEvent {
  let headers: Record<string, string> | undefined;
  const event: PipelineEvent = {
    topic,
    partition,
    offset: m.offset,
    key: m.key ? m.key.toString() : null,
    timestamp: m.timestamp,
    get headers() {
      headers ??= headersOf(m.headers);
      return headers;
    },
    raw: m.value,
    value: null,
  };
  const replayFor = m.headers?.[DLQ_REPLAY_HEADER];
  if (replayFor !== undefined) dlqReplayFor.set(event, String(replayFor));
  return event;
}
