import type { Admin, Kafka } from 'kafkajs';
import { AccordError } from '../errors';
import { deadLetterTopic } from '../events/topics';
import type { SqlPool } from '../infra/sql';
import { DLQ_REPLAY_HEADER } from '../pipelines/types';
import type { AvroSerde } from '../schemas/serde';

export interface DeadLetterEntry {
  dlqOffset: string;
  partition: number;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
  action: 'replayed' | 'discarded' | null;
}

/** The records of a group's dead-letter topic, with what operators did about them. */
export async function readDeadLetters(
  admin: Admin,
  pool: SqlPool,
  kafka: Kafka,
  group: string,
): Promise<DeadLetterEntry[]> {
  const topic = deadLetterTopic(group);
  if (!(await admin.listTopics()).includes(topic)) return [];
  const ends = await admin.fetchTopicOffsets(topic);
  const total = ends.reduce((sum, o) => sum + Number(BigInt(o.high) - BigInt(o.low)), 0);
  const entries: DeadLetterEntry[] = [];
  if (total > 0) {
    const reader = `accord-dlq-reader-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    await admin.setOffsets({
      groupId: reader,
      topic,
      partitions: ends.map((o) => ({ partition: o.partition, offset: o.low })),
    });
    const consumer = kafka.consumer({ groupId: reader, maxWaitTimeInMs: 200 });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new AccordError('KAFKA_UNAVAILABLE', `reading ${topic} timed out`, { retriable: true })),
          30000,
        );
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              entries.push({
                dlqOffset: message.offset,
                partition,
                key: message.key?.toString() ?? null,
                value: message.value,
                headers: Object.fromEntries(
                  Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
                ),
                timestamp: message.timestamp,
                action: null,
              });
              if (entries.length >= total) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([reader]).catch(() => {});
    }
  }
  const { rows } = await pool.query<{ dlq_offset: string; action: 'replayed' | 'discarded' }>(
    'select dlq_offset::text, action from pipeline_dead_letter_actions where consumer_group = $1',
    [group],
  );
  const actions = new Map(rows.map((r) => [r.dlq_offset, r.action]));
  for (const e of entries) e.action = actions.get(e.dlqOffset) ?? null;
  return entries.sort((a, b) => Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
}

export async function recordDeadLetterAction(
  pool: SqlPool,
  group: string,
  dlqOffsets: string[],
  action: 'replayed' | 'discarded',
  by: string,
): Promise<void> {
  await pool.query(
    `insert into pipeline_dead_letter_actions (consumer_group, dlq_offset, action, acted_by)
     select $1, o::bigint, $3, $4 from unnest($2::text[]) as o
     on conflict (consumer_group, dlq_offset) do update set action = excluded.action, acted_by = excluded.acted_by, acted_at = now()`,
    [group, dlqOffsets, action, by],
  );
}

/** A dead letter as operators see it: the record in `<group>.dlq`, decoded, and what was done about it. */
export interface DeadLetterView extends Omit<DeadLetterEntry, 'value'> {
  letter: {
    pipeline?: string;
    topic: string;
    partition: number;
    offset: number;
    key: Buffer | string | null;
    value: Buffer | string | null;
    headers: Record<string, string>;
    errorCode: string;
    errorMessage: string;
    attempts: number;
  } | null;
}

/** Decodes dead letters (Avro, or the JSON fallback written when the registry was unreachable). */
export async function decodeDeadLetters(
  entries: DeadLetterEntry[],
  serde: AvroSerde,
): Promise<DeadLetterView[]> {
  return Promise.all(
    entries.map(async ({ value, ...rest }) => {
      if (!value) return { ...rest, letter: null };
      try {
        return { ...rest, letter: (await serde.decode(value)).value as DeadLetterView['letter'] };
      } catch {
        const json = JSON.parse(value.toString()) as DeadLetterView['letter'] & { value: string | null };
        return {
          ...rest,
          letter: { ...json, value: json.value === null ? null : Buffer.from(json.value, 'base64') },
        };
      }
    }),
  );
}

/** Sends dead letters back to their topics, for `group` only (other groups on the topic skip them). */
export async function resendDeadLetters(
  kafka: Kafka,
  group: string,
  letters: DeadLetterView[],
): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let sent = 0;
  try {
    for (const d of letters) {
      if (!d.letter) continue;
      const key = d.letter.key === null ? null : Buffer.from(d.letter.key);
      const value = d.letter.value === null ? null : Buffer.from(d.letter.value);
      await producer.send({
        topic: d.letter.topic,
        acks: -1,
        messages: [{ key, value, headers: { ...d.letter.headers, [DLQ_REPLAY_HEADER]: group } }],
      });
      sent++;
    }
  } finally {
    await producer.disconnect();
  }
  return sent;
}
