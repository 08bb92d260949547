import type { Message } from 'kafkajs';
import { AccordError, describeError, UnavailableError } from '../errors';

// How records reach Kafka, apart from the publisher that prepares them: produce requests under the
// broker's size limit, and kafkajs failures as Accord errors.

/** Maps kafkajs failures by their structured fields (type, retriable), never by message text. */
export function kafkaFailure(doing: string, error: unknown): AccordError {
  const e = error as {
    type?: string;
    retriable?: boolean;
    name?: string;
    originalError?: { type?: string };
    cause?: { type?: string };
  };
  // KafkaJSNumberOfRetriesExceeded carries the last broker error as `cause`.
  const type = e.type ?? e.cause?.type ?? e.originalError?.type;
  if (type === 'TOPIC_AUTHORIZATION_FAILED' || type === 'CLUSTER_AUTHORIZATION_FAILED') {
    // Kafka answers a principal without access to a topic the same whether the topic exists or not.
    return new AccordError(
      'KAFKA_NOT_AUTHORIZED',
      `${doing}: not authorized (${type}): this principal may not write that topic, or the topic does not exist (Kafka does not tell which); see accord principals, and infra/kafka/topics.json`,
      { cause: error },
    );
  }
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
    return new AccordError(
      'TOPIC_NOT_FOUND',
      `${doing}: the topic does not exist: declare it in infra/kafka/topics.json and run accord topics apply`,
      { cause: error },
    );
  }
  const transient =
    e.retriable === true ||
    e.name === 'KafkaJSNumberOfRetriesExceeded' ||
    e.name === 'KafkaJSConnectionError' ||
    e.name === 'KafkaJSRequestTimeoutError' ||
    e.name === 'KafkaJSBrokerNotFound' ||
    e.name === 'KafkaJSConnectionClosedError';
  if (transient) {
    return new UnavailableError(
      'KAFKA_UNAVAILABLE',
      // Not "nothing was published": a request that timed out may have been written. Idempotence keeps a
      // retry by this producer from writing it twice; the caller cannot know which it was.
      `${doing}: Kafka did not acknowledge (${describeError(error)}); it may or may not have been written`,
      {
        cause: error,
      },
    );
  }
  return new AccordError('PUBLISH_FAILED', `${doing}: ${describeError(error)}`, { cause: error });
}

/** Splits prepared events, in order, into produce requests of at most `maxBytes` (one event alone if bigger). */
export function requestChunks<T extends { message: Message }>(prepared: T[], maxBytes: number): T[][] {
  const size = (m: Message) => {
    let n = (m.value as Buffer | null)?.length ?? 0;
    n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : ((m.key as Buffer | null)?.length ?? 0);
    const headers = m.headers;
    for (const k in headers) {
      const v = headers[k];
      n +=
        Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : ((v as Buffer)?.length ?? 0));
    }
    return n + 64; // record overhead (offsets, lengths, timestamp)
  };
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const p of prepared) {
    const n = size(p.message);
    if (current.length > 0 && bytes + n > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(p);
    bytes += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Messages grouped by topic, each topic's in the given order (a produce request's topicMessages). */
export function byTopic<T extends { topic: string; message: Message }>(
  items: T[],
): { topic: string; messages: Message[] }[] {
  const topics = new Map<string, Message[]>();
  for (const { topic, message } of items) {
    const messages = topics.get(topic);
    if (messages) messages.push(message);
    else topics.set(topic, [message]);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}
