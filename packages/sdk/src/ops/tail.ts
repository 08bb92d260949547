import { randomBytes } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { AccordError } from '../errors';
import { resolvePositions, type StartPosition } from '../pipelines/positions';
import type { AvroSerde } from '../schemas/serde';

/** One record of a topic as `accord tail` shows it: decoded, or with the reason it does not decode. */
export interface TailRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  timestamp: string;
  headers: Record<string, string>;
  schemaName?: string;
  schemaId?: number;
  value?: unknown;
  /** Why the value does not decode (reading goes on). */
  error?: string;
}

/**
 * Reads a topic from a start position with a throw-away consumer group (deleted after), decoding each
 * record, until `max` records were delivered or `until` resolves.
 */
export async function tailTopic(
  kafka: Kafka,
  admin: Admin,
  serde: AvroSerde,
  topic: string,
  options: { from: StartPosition; entity?: string; max?: number; until: Promise<void> },
  onRecord: (record: TailRecord) => void,
): Promise<void> {
  const group = `accord-tail-${randomBytes(6).toString('hex')}`;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 250 });
  try {
    if (!(await admin.listTopics()).includes(topic))
      throw new AccordError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist`);
    // A fresh group is empty, so its positions can be set before the consumer joins.
    await admin.setOffsets({
      groupId: group,
      topic,
      partitions: await resolvePositions(admin, topic, options.from),
    });
    let delivered = 0;
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (delivered >= max) return;
        const key = message.key?.toString() ?? null;
        if (options.entity !== undefined && key !== options.entity) return;
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
        );
        let decoded: Pick<TailRecord, 'schemaName' | 'schemaId' | 'value' | 'error'>;
        try {
          decoded = message.value ? await serde.decode(message.value) : { value: null };
        } catch (error) {
          decoded = { error: `${(error as { code?: string }).code ?? 'ERROR'}: ${(error as Error).message}` };
        }
        delivered++;
        onRecord({
          topic,
          partition,
          offset: message.offset,
          key,
          timestamp: message.timestamp,
          headers,
          ...decoded,
        });
        if (delivered >= max) finish();
      },
    });
    await Promise.race([done, options.until]);
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([group]).catch(() => {});
  }
}
