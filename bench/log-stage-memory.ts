/**
 * The log pipeline's parse stage (services/logs/dist/main.js parse) working through a backlog of raw log
 * lines, under the service profile: its peak resident memory (VmHWM) and lines/s, for the #15 bound of a
 * service under 150 MB whatever the backlog. Not part of `npm run bench`: it measured 217 MB the day it
 * was written (docs/pipelines.md), and is here to measure what changes it.
 *
 *   scripts/bench.sh log-stage-memory [--minutes 900] [--node-options="--max-old-space-size=64"]
 *
 * A seeded sample of --minutes is shipped under a namespace of its own (ACCORD_TOPIC_NAMESPACE). The stage
 * runs with the stack's admin Kafka principal: accord_logs may read only the logs.* topics, not a
 * benchmark's namespace; its Postgres role stays its own. Its topics, group and checkpoints are removed after.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createKafka, createPgPool, resolveConfig, secretsDir, serviceNodeFlags } from '@accord/sdk';
import { runBench } from './harness.ts';
import { writeMetrics } from './metrics.ts';
import { peakRssMb } from './service-run.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '900' },
    'node-options': { type: 'string', default: '' },
    json: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
if (!Number.isInteger(minutes) || minutes < 1) {
  process.stderr.write('bench: --minutes must be a positive whole number\n');
  process.exit(2);
}

async function main(): Promise<void> {
  const config = resolveConfig();
  const run = `bench${Date.now().toString(36)}`;
  const group = `log-parser-${run}`; // accord_logs may advance log-* groups only (its checkpoint grants)
  const raw = `${run}.logs.raw_log.events`;
  const topics = [raw, `${run}.logs.parsed_log.events`, `${group}.dlq`];
  const dir = mkdtempSync(join(tmpdir(), 'accord-logs-'));
  const admin = createKafka(config).admin();
  await admin.connect();
  const pool = createPgPool(config.postgres.url, { max: 1 });
  const env = {
    ...process.env,
    ACCORD_TOPIC_NAMESPACE: run,
    KAFKA_SASL_USERNAME: 'accord-admin',
    KAFKA_SASL_PASSWORD_FILE: join(secretsDir(), 'kafka', 'accord-admin'),
  };
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.slice(0, 2).map((topic) => ({ topic, numPartitions: 3 })),
    });
    const main = 'services/logs/dist/main.js';
    execFileSync(process.execPath, [main, 'sample', '--minutes', String(minutes), '--out', dir], { env });
    execFileSync(process.execPath, [main, 'ingest', '--dir', dir], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const lines = (await admin.fetchTopicOffsets(raw)).reduce((sum, o) => sum + Number(o.high), 0);
    const flags = values['node-options']
      ? values['node-options'].split(/\s+/)
      : serviceNodeFlags({}, 'logs-parse');
    const child = spawn(process.execPath, [...flags, main, 'parse', '--group', group], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    let peak = 0;
    const started = Date.now();
    for (let done = 0; done < lines; ) {
      await new Promise((r) => setTimeout(r, 100));
      if (child.exitCode !== null)
        throw new Error(`the parse stage exited (${child.exitCode}) before the end`);
      peak = Math.max(peak, peakRssMb(child.pid!));
      const { rows } = await pool.query<{ n: string }>(
        'select coalesce(sum(kafka_offset), 0)::text as n from pipeline_checkpoints where consumer_group = $1',
        [group],
      );
      done = Number(rows[0]?.n);
    }
    const perSecond = lines / ((Date.now() - started) / 1000);
    peak = Math.max(peak, peakRssMb(child.pid!));
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
    process.stdout.write(
      `log parse stage (${flags.join(' ') || "V8's defaults"}): ${lines} lines, ${Math.round(perSecond)} lines/s, peak RSS ${Math.round(peak)} MB\n`,
    );
    writeMetrics(values.json, 'log-stage-memory', [
      { name: 'service memory: log parse stage, peak RSS', value: peak, unit: 'MB' },
      { name: 'service memory: log parse stage', value: perSecond, unit: 'events/s' },
    ]);
  } finally {
    await pool.query('delete from pipeline_checkpoints where consumer_group = $1', [group]).catch(() => {});
    await pool.end();
    await admin.deleteGroups([group]).catch(() => {});
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
