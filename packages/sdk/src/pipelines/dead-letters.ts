import type { Admin, Producer } from 'kafkajs';
import type { ResolvedConfig } from '../config';
import { describeError } from '../errors';
import { HEADERS } from '../events/publisher';
import { deadLetterTopic } from '../events/topics';
import { createKafka } from '../infra/clients';
import { AvroSerde } from '../schemas/serde';
import type { DeadLetter } from '../schemas/types.generated';
import { errorCodeOf } from './errors';
import type { PipelineEvent } from './types';

/**
 * Sends what a pipeline cannot process to `<group>.dlq`, with the original bytes, where it came from and
 * why: an Avro `accord.platform.DeadLetter`, or the same record as JSON when the registry cannot be used
 * (a dead letter is never lost for want of a schema). The topic is created on first use.
 */
export class DeadLetterSender {
  private producer: Producer | undefined;
  private ready = false;

  constructor(
    private readonly options: {
      config: ResolvedConfig;
      pipeline: string;
      group: string;
      admin: () => Admin;
      serde?: AvroSerde;
    },
  ) {}

  async send(event: PipelineEvent, error: unknown, attempts: number): Promise<void> {
    const { config, pipeline, group } = this.options;
    const topic = deadLetterTopic(group);
    if (!this.producer) {
      this.producer = createKafka(config).producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await this.producer.connect();
    }
    if (!this.ready) {
      const admin = this.options.admin();
      if (!(await admin.listTopics()).includes(topic)) {
        await admin
          .createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] })
          .catch(() => false);
      }
      this.ready = true;
    }
    const record: DeadLetter = {
      pipeline,
      consumerGroup: group,
      topic: event.topic,
      partition: event.partition,
      offset: Number(event.offset),
      key: event.key === null ? null : Buffer.from(event.key),
      value: event.raw,
      headers: event.headers,
      errorCode: errorCodeOf(error),
      errorMessage: describeError(error).slice(0, 4000),
      attempts,
      failedAt: Date.now(),
    };
    const serde =
      this.options.serde ?? new AvroSerde({ registryUrl: config.schemaRegistry.url, autoRegister: true });
    let value: Buffer;
    try {
      value = (await serde.encode('accord.platform.DeadLetter', record)).buffer;
    } catch {
      // Registry unreachable or schema unregistered: keep the record anyway, as JSON.
      value = Buffer.from(
        JSON.stringify({ ...record, key: event.key, value: event.raw?.toString('base64') ?? null }),
      );
    }
    await this.producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: event.key,
          value,
          headers: {
            'accord-dlq-source': `${event.topic}/${event.partition}/${event.offset}`,
            'accord-dlq-error-code': record.errorCode,
            ...(event.headers[HEADERS.eventId] ? { [HEADERS.eventId]: event.headers[HEADERS.eventId] } : {}),
          },
        },
      ],
    });
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => {});
  }
}
