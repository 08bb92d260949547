import type { TestContext } from '@accord/testing';
import { eventually, uniqueName } from '@accord/testing';

export interface LogRecord {
  partition: number;
  offset: string;
  value: Buffer | null;
}

/**
 * The auditor's view of Kafka: every record of a topic up to the log ends as they are now, by event id
 * (header accord-event-id), read by a raw consumer of its own. Lets an audit tell an acknowledged event
 * that never reached the log (a producer or broker loss) from one in the log that a consumer skipped.
 */
export async function readLog(ctx: TestContext, topic: string): Promise<Map<string, LogRecord>> {
  const admin = await ctx.kafkaAdmin();
  const ends = await eventually(() => admin.fetchTopicOffsets(topic).catch(() => undefined), {
    timeoutMs: 30000,
    what: `the log ends of ${topic}`,
  });
  const remaining = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]),
  );
  const seen = new Map<string, LogRecord>();
  if (remaining.size === 0) return seen;
  const group = uniqueName('t-auditor');
  const consumer = ctx.kafka.consumer({ groupId: group, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let failure: unknown;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        try {
          for (const m of batch.messages) {
            const id = m.headers?.['accord-event-id']?.toString();
            if (id) seen.set(id, { partition: batch.partition, offset: m.offset, value: m.value });
            const end = remaining.get(batch.partition);
            if (end !== undefined && BigInt(m.offset) + 1n >= end) remaining.delete(batch.partition);
          }
        } catch (error) {
          failure = error;
        }
      },
    });
    await eventually(() => remaining.size === 0 || failure !== undefined, {
      timeoutMs: 120000,
      what: () => `the auditor reading ${topic} to its ends (${remaining.size} partition(s) left)`,
    });
    if (failure) throw failure;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([group]).catch(() => {});
  }
  return seen;
}
