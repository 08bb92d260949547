import type { TestContext } from '@accord/testing';
import { eventually, uniqueName } from '@accord/testing';

export interface LogRecord {
  partition: number;
  offset: string;
  headers: Record<string, string>;
  value: Buffer | null;
}

/**
 * The auditor's view of Kafka: every record of a topic up to the log ends as they are now, read by a raw
 * consumer of its own (a group it deletes afterwards).
 */
export async function readRecords(ctx: TestContext, topic: string): Promise<LogRecord[]> {
  const admin = await ctx.kafkaAdmin();
  const ends = await eventually(() => admin.fetchTopicOffsets(topic).catch(() => undefined), {
    timeoutMs: 30000,
    what: `the log ends of ${topic}`,
  });
  const remaining = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]),
  );
  const records: LogRecord[] = [];
  if (remaining.size === 0) return records;
  const group = uniqueName('t-auditor');
  const consumer = ctx.kafka.consumer({ groupId: group, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const end = remaining.get(batch.partition);
          if (end === undefined || BigInt(m.offset) >= end) continue; // past the ends read above
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {}))
            if (v !== undefined) headers[k] = v.toString();
          records.push({ partition: batch.partition, offset: m.offset, headers, value: m.value });
          if (BigInt(m.offset) + 1n >= end) remaining.delete(batch.partition);
        }
      },
    });
    await eventually(() => remaining.size === 0, {
      timeoutMs: 120000,
      what: () => `the auditor reading ${topic} to its ends (${remaining.size} partition(s) left)`,
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([group]).catch(() => {});
  }
  return records;
}

/**
 * A topic's records by event id (header accord-event-id): lets an audit tell an acknowledged event that
 * never reached the log (a producer or broker loss) from one in the log that a consumer skipped.
 */
export async function readLog(ctx: TestContext, topic: string): Promise<Map<string, LogRecord>> {
  const byId = new Map<string, LogRecord>();
  for (const r of await readRecords(ctx, topic)) {
    const id = r.headers['accord-event-id'];
    if (id) byId.set(id, r);
  }
  return byId;
}
