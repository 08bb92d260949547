/**
 * `accord publish --file` of a big NDJSON file (default 1,000,000 lines) against a raw kafkajs producer
 * streaming the same file's lines (as JSON, no validation or Avro) to the same broker in the same run:
 * events/s, the ratio, and the CLI's peak RSS (bounded memory, whatever the file's size).
 *
 *   scripts/bench.sh bulk-publish [--lines 1000000]
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createKafka, resolveConfig } from '@accord/sdk';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: { lines: { type: 'string', default: '1000000' }, json: { type: 'string' } },
});
const total = Number(values.lines);
if (!Number.isInteger(total) || total < 1) {
  process.stderr.write(`bench: --lines must be a positive integer, got "${values.lines}"\n`);
  process.exit(2);
}
// scripts/bench.sh runs benchmarks from the project's root.
const ROOT = process.env.ACCORD_ROOT ?? process.cwd();
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-bulk-'));
  const file = join(dir, 'events.ndjson');
  const out = createWriteStream(file);
  for (let i = 1; i <= total; i++) {
    const line = `${JSON.stringify({ entity: `o-${i % 5000}`, data: { orderId: `o-${i % 5000}`, percent: i % 90, approvedBy: 'pricing' } })}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const rawTopic = `${run}-raw.order.events`;
  const cliTopic = `${run}-cli.order.events`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [rawTopic, cliTopic].map((topic) => ({ topic, numPartitions: 6 })),
  });
  try {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    let t0 = Date.now();
    let batch: { key: string; value: string }[] = [];
    const flush = async () => {
      if (batch.length)
        await producer.sendBatch({ acks: -1, topicMessages: [{ topic: rawTopic, messages: batch }] });
      batch = [];
    };
    for await (const line of createInterface({ input: createReadStream(file) })) {
      batch.push({ key: (JSON.parse(line) as { entity: string }).entity, value: line });
      if (batch.length >= 2000) await flush();
    }
    await flush();
    const raw = (Date.now() - t0) / 1000;
    await producer.disconnect();

    t0 = Date.now();
    const cli = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        'maxrss-kb %M',
        'bash',
        join(ROOT, 'scripts', 'accord'),
        'publish',
        cliTopic,
        '--type',
        'DiscountApproved',
        '--file',
        file,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const seconds = (Date.now() - t0) / 1000;
    if (cli.status !== 0)
      throw new Error(`accord publish failed (${cli.status}): ${cli.stderr.slice(-2000)}`);
    const rssKb = Number(/maxrss-kb (\d+)/.exec(cli.stderr)?.[1] ?? Number.NaN);
    process.stdout.write(`\n${total} lines (${file}):\n`);
    process.stdout.write(
      `  raw kafkajs, the lines as JSON    ${raw.toFixed(1)} s  ${Math.round(total / raw)} events/s\n`,
    );
    process.stdout.write(
      `  accord publish --file             ${seconds.toFixed(1)} s  ${Math.round(total / seconds)} events/s  (${(raw / seconds).toFixed(2)}x raw; peak RSS ${Math.round(rssKb / 1024)} MB; includes its check of every line first)\n`,
    );
    writeMetrics(values.json, 'bulk-publish', [
      { name: `bulk: raw kafkajs streaming ${total} lines`, value: total / raw, unit: 'events/s', ratio: 1 },
      {
        name: `bulk: accord publish --file ${total} lines`,
        value: total / seconds,
        unit: 'events/s',
        ratio: raw / seconds,
      },
      { name: 'bulk: accord publish peak RSS', value: rssKb / 1024, unit: 'MB' },
    ]);
  } finally {
    await admin.deleteTopics({ topics: [rawTopic, cliTopic] }).catch(() => {});
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
