/**
 * The reference log pipeline (services/logs: parse → summarize → detect, three processes with their own
 * groups and checkpoints) on the three-broker cluster while a seeded sample is shipped and its stages are
 * SIGKILLed at random moments, each started again at once. The auditor then reads Kafka and Postgres:
 * every window of the sample summarized exactly once with exactly its lines (a parsed record re-published
 * by a killed parser counted once), every garbled line in the parser's dead-letter topic, every incident of
 * the sample found and no false alarm, every stage caught up and running. Measured: the time from each
 * SIGKILL to the stage running again. ACCORD_FAULTS=full kills more often over a longer sample.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AvroSerde, createPgPool } from '@accord/sdk';
import { eventually, uniqueName } from '@accord/testing';
import { type RunningService, startService } from '../e2e/cli';
import { readSampleTruth } from '../e2e/logs-sample';
import { readRecords } from './audit';
import { complaints, faultSuite, note, ROOT } from './cluster';

const FULL = process.env.ACCORD_FAULTS === 'full';
const MINUTES = FULL ? 600 : 120;
const KILLS = FULL ? 20 : 4;
jest.setTimeout(FULL ? 900_000 : 480_000);

const MAIN = 'services/logs/dist/main.js';
const STAGES = ['parse', 'summarize', 'detect'] as const;

const { cluster, ctx, stops } = faultSuite();

test('the log pipeline with its stages SIGKILLed at random: every window summarized once with its lines, every bad line dead-lettered, every incident found', async () => {
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const ns = uniqueName('t-ns');
  const env = {
    ...cluster.env,
    DATABASE_URL: db.url(),
    ACCORD_TOPIC_NAMESPACE: ns,
    ACCORD_LOG_LEVEL: 'info',
  };
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(ROOT, MAIN), ...args],
        { env: { ...process.env, ...env } },
        (e, stdout, stderr) =>
          resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
      ),
    );
  const kafka = await ctx.kafkaAdmin();
  await kafka.createTopics({
    waitForLeaders: true,
    topics: ['raw_log', 'parsed_log', 'log_summary', 'log_anomaly'].map((e) => ({
      topic: `${ns}.logs.${e}.events`,
      numPartitions: 3,
    })),
  });
  const sampleDir = mkdtempSync(join(tmpdir(), 'accord-logs-faults-'));
  const made = await run(['sample', '--seed', '23', '--minutes', String(MINUTES), '--out', sampleDir]);
  expect(made.code).toBe(0);
  const truth = readSampleTruth(sampleDir);

  const stages = new Map<string, RunningService>();
  const start = async (stage: string) => {
    stages.set(stage, await startService(MAIN, [stage], env, stops));
  };
  await Promise.all(STAGES.map(start));
  const shipping = run(['ingest', '--dir', sampleDir]);

  // The chaos: a random stage SIGKILLed every 1–2 s, KILLS times, each started again at once in the
  // background (the chaos goes on meanwhile). How many windows were summarized at each kill tells whether
  // it landed while there was work in flight.
  const kills: { stage: string; parsed: number; summarized: number; runningAgainMs?: number }[] = [];
  const starting = new Map<string, Promise<void>>();
  const summarized = async () =>
    (await admin.query<{ n: number }>('select count(*)::int as n from log_summaries')).rows[0]?.n ?? 0;
  const parsed = async () =>
    (await kafka.fetchTopicOffsets(`${ns}.logs.parsed_log.events`)).reduce((n, p) => n + Number(p.high), 0);
  const midway = (k: { parsed: number; summarized: number }) =>
    (k.parsed > 0 && k.parsed < truth.parsed) || (k.summarized > 0 && k.summarized < truth.windows.size);
  await eventually(async () => (await parsed()) > 0, { what: 'the first parsed records', timeoutMs: 60_000 });
  while (kills.length < KILLS) {
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
    const idle = STAGES.filter((s) => !starting.has(s));
    const stage = idle[Math.floor(Math.random() * idle.length)];
    if (!stage) continue;
    const at = Date.now();
    await stages.get(stage)?.kill();
    const kill: (typeof kills)[number] = { stage, parsed: await parsed(), summarized: await summarized() };
    kills.push(kill);
    note(`SIGKILL ${stage} (so far ${kill.parsed} records parsed, ${kill.summarized} windows summarized)`);
    starting.set(
      stage,
      start(stage).finally(() => {
        kill.runningAgainMs = Date.now() - at;
        starting.delete(stage);
      }),
    );
  }
  await Promise.all(starting.values());
  const shipped = await shipping;
  expect(shipped.code).toBe(0);

  // The auditor: the stages settled (report waits for it), then the tables and the logs themselves.
  // 300 s: in CI (2026-11-26) the stages had not settled in 180 s beside the fleet suite, reason unknown
  // then; the report now names what it waited for (lags, summaries, unrelayed rows) if it happens again.
  const report = await run(['report', '--json', '--dir', sampleDir, '--wait', '300']);
  const measured = JSON.parse(report.stdout || '{}') as {
    summaries?: { logic: string; duplicates: number }[];
    incidents?: { found: boolean }[];
    falseAlarms?: number;
    lag?: { parser: number; detector: number };
  };
  const { rows } = await admin.query<{ key: string; lines: number; n: number }>(
    `select service || '@' || (extract(epoch from window_start) * 1000)::bigint as key, sum(lines)::int as lines,
            count(*)::int as n
       from log_summaries where logic = 'levels' group by 1`,
  );
  const byWindow = new Map(rows.map((r) => [r.key, r.lines]));
  const wrongWindows = [...truth.windows].filter(([key, lines]) => byWindow.get(key) !== lines);
  const serde = new AvroSerde({ registryUrl: cluster.config.schemaRegistry.url });
  const deadLettered = new Set<string>();
  for (const r of await readRecords(ctx, `${ns}.log-parser.dlq`)) {
    if (!r.value) continue;
    const letter = (await serde.decode(r.value)).value as {
      topic: string;
      partition: number;
      offset: number;
    };
    deadLettered.add(`${letter.topic}:${letter.partition}:${letter.offset}`);
  }
  const summary = {
    mode: FULL ? 'full' : 'short',
    sampleMinutes: MINUTES,
    lines: truth.parsed + truth.garbled,
    kills: kills.length,
    killed: kills.reduce<Record<string, number>>((n, k) => {
      n[k.stage] = (n[k.stage] ?? 0) + 1;
      return n;
    }, {}),
    runningAgainMs: { max: Math.max(...kills.map((k) => k.runningAgainMs ?? 0)) },
    killsWithWorkInFlight: kills.filter(midway).length,
    windows: truth.windows.size,
    windowsWrong: wrongWindows.length,
    windowsSummarizedTwice: rows.filter((r) => r.n > 1).length,
    garbled: truth.garbled,
    deadLettered: deadLettered.size,
    incidents: truth.incidents.length,
    incidentsFound: measured.incidents?.filter((i) => i.found).length,
    falseAlarms: measured.falseAlarms,
    lag: measured.lag,
    reportExit: report.code,
    stagesRunning: [...stages.values()].every((s) => s.exitCode() === null),
  };
  note(JSON.stringify(summary));
  if (process.env.ACCORD_FAULTS_REPORT) {
    const file = process.env.ACCORD_FAULTS_REPORT.replace(/\.json$/, '.logs.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  }
  if (report.code !== 0)
    for (const [stage, running] of stages) note(`${stage}: ${complaints(running.output.join(''))}`);
  expect({ code: report.code, stderr: report.code === 0 ? '' : report.stderr.slice(-1500) }).toEqual({
    code: 0,
    stderr: '',
  });
  expect(wrongWindows.slice(0, 5).map(([key, lines]) => ({ key, lines, got: byWindow.get(key) }))).toEqual(
    [],
  );
  expect(summary.windowsSummarizedTwice).toBe(0);
  expect(summary.deadLettered).toBe(truth.garbled);
  expect({ found: summary.incidentsFound, falseAlarms: summary.falseAlarms }).toEqual({
    found: truth.incidents.length,
    falseAlarms: 0,
  });
  expect(summary.lag).toEqual({ parser: 0, detector: 0 });
  expect(summary.stagesRunning).toBe(true);
  expect(summary.killsWithWorkInFlight).toBeGreaterThan(0); // the chaos met the pipeline at work
  await admin.end();
});
