/**
 * One member of bench/scaling.ts, in its own process: a checkpointed pipeline (or, with --raw, a raw
 * kafkajs eachBatch consumer decoding with avsc) in group --group on --topic. Prints a JSON line every
 * 250 ms and on SIGTERM: events handled so far and the process's peak resident memory (VmHWM), so the
 * driver sees what one process holds while it works through a backlog.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createKafka, createPgPool, createPipeline, resolveConfig } from '@accord/sdk';

const { values } = parseArgs({
  options: { topic: { type: 'string' }, group: { type: 'string' }, raw: { type: 'boolean' } },
});
const topic = String(values.topic);
const group = String(values.group);
const config = resolveConfig();

/** Peak resident set of this process in MB (Linux /proc; 0 elsewhere). */
function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

let handled = 0;
const peaks = { heapMb: 0, externalMb: 0 };
const report = () => {
  const m = process.memoryUsage();
  peaks.heapMb = Math.max(peaks.heapMb, m.heapTotal / 2 ** 20);
  peaks.externalMb = Math.max(peaks.externalMb, m.external / 2 ** 20);
  process.stdout.write(`${JSON.stringify({ handled, peakRssMb: peakRssMb(), ...peaks })}\n`);
};

async function main(): Promise<void> {
  let stop: () => Promise<void>;
  if (values.raw) {
    // The raw consumer fetches as the pipelines do (ACCORD_FETCH_MAX_BYTES): the comparison is of what each
    // holds and does with the same fetches.
    const consumer = createKafka(config).consumer({
      groupId: group,
      maxWaitTimeInMs: 250,
      maxBytes: config.kafka.fetchMaxBytes,
      maxBytesPerPartition: config.kafka.fetchMaxBytes,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        for (const m of batch.messages) {
          handled++;
          resolveOffset(m.offset);
        }
        await commitOffsetsIfNecessary();
      },
    });
    stop = () => consumer.disconnect();
  } else {
    const pool = createPgPool(config.postgres.url, { max: 4 });
    const pipeline = createPipeline({
      name: group,
      topics: [topic],
      config,
      pool,
      handler: () => {
        handled++;
      },
    });
    await pipeline.start();
    stop = async () => {
      await pipeline.stop();
      await pool.end();
    };
  }
  const timer = setInterval(report, 50);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void stop().finally(() => {
      report();
      process.exit(0);
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`scaling member: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
