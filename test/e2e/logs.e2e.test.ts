/**
 * The log pipeline as the demo runs it (services/logs: parse → summarize → detect), on a seeded sample,
 * in its own topic namespace and Postgres schema. The summarizer's text comes from a model (a local
 * server speaking the OpenAI API, a little slow on purpose), journaled per window with ctx.sideEffect.
 * (1) SIGKILLed mid-batch, the summarizer resumes from its window checkpoints: every window summarized
 * exactly once, every parsed line counted once, no model call repeated for a journaled window, nothing
 * re-processed upstream. (2) Replayed from a past time with changed logic, it writes new summaries for
 * every window from there, beside the old ones, and the detector takes them in and finds the same incidents.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgPool, resolveConfig } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { accord, ROOT, type RunningService, startService } from './cli';
import { readSampleTruth, type SampleTruth } from './logs-sample';

jest.setTimeout(300000);

const ctx = new TestContext(resolveConfig());
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const ns = uniqueName('t-ns');
const sampleDir = mkdtempSync(join(tmpdir(), 'accord-logs-'));
const stops: (() => Promise<void>)[] = [];
const MAIN = 'services/logs/dist/main.js';
const SUMMARIZER = `${ns}.log-summarizer`;
let model: Server;
let modelCalls = 0;
let modelUrl = '';
const env = () => ({
  DATABASE_URL: db.url(),
  ACCORD_TOPIC_NAMESPACE: ns,
  ACCORD_MODEL_BASE_URL: modelUrl,
  ACCORD_MODEL: 'test-model',
  ACCORD_LOG_LEVEL: 'info',
});
const topic = (entity: string) => `${ns}.logs.${entity}.events`;

let truth: SampleTruth;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [join(ROOT, MAIN), ...args],
      { env: { ...process.env, ...env() } },
      (e, stdout, stderr) =>
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );
}

async function endOffsets(t: string): Promise<number> {
  const offsets = await (await ctx.kafkaAdmin()).fetchTopicOffsets(t);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

async function summaries(logic: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'select count(*)::int as n from log_summaries where logic = $1',
    [logic],
  );
  return rows[0]?.n ?? 0;
}

beforeAll(async () => {
  model = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      modelCalls++;
      const asked = JSON.parse(JSON.parse(body).messages[1].content) as {
        service: string;
        counts: Record<string, number>;
      };
      const content = `model: ${asked.service} wrote ${Object.values(asked.counts).reduce((a, b) => a + b, 0)} line(s)`;
      // Slow enough that a SIGKILL lands while windows are being closed.
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            id: `c-${modelCalls}`,
            object: 'chat.completion',
            model: 'test-model',
            choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 10, completion_tokens: 5 },
          }),
        );
      }, 25);
    });
  });
  await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
  modelUrl = `http://127.0.0.1:${(model.address() as AddressInfo).port}/v1`;

  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafka = await ctx.kafkaAdmin();
  await kafka.createTopics({
    waitForLeaders: true,
    topics: ['raw_log', 'parsed_log', 'log_summary', 'log_anomaly'].map((e) => ({
      topic: topic(e),
      numPartitions: 3,
    })),
  });
  ctx.onCleanup(async () => {
    const mine = (await kafka.listTopics()).filter((t) => t.startsWith(`${ns}.`));
    await kafka.deleteTopics({ topics: mine }).catch(() => {});
  });

  const made = await run(['sample', '--seed', '11', '--minutes', '40', '--out', sampleDir]);
  expect(made).toMatchObject({ code: 0, stderr: expect.stringMatching(/wrote \d+ lines of 6 services/) });
  truth = readSampleTruth(sampleDir);
  expect(truth.incidents.length).toBeGreaterThan(0);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await new Promise((r) => model.close(r));
  await admin.end();
  await ctx.cleanup();
});

test('killed mid-batch, the summarizer resumes from its window checkpoints: nothing lost, nothing doubled, nothing re-processed upstream', async () => {
  await startService(MAIN, ['parse'], env(), stops);
  await startService(MAIN, ['detect'], env(), stops);
  const shipped = await run(['ingest', '--dir', sampleDir]);
  expect(shipped.code).toBe(0);
  const lines = truth.parsed + truth.garbled;
  expect(JSON.parse(shipped.stdout)).toEqual({ shipped: lines, services: 6, alreadyThere: 0 });
  // Shipping again with --once (what a second demo on the same stack does) ships nothing, and says so.
  const again = await run(['ingest', '--dir', sampleDir, '--once']);
  expect(JSON.parse(again.stdout)).toEqual({ shipped: 0, services: 6, alreadyThere: lines });
  expect(again.stderr).toContain(`not shipped: ${lines} record(s) already in the raw topic`);
  // The parser: every good line parsed once, every garbled one dead-lettered with its reason.
  await eventually(async () => (await endOffsets(topic('parsed_log'))) === truth.parsed, {
    what: () => `${truth.parsed} parsed records`,
  });
  await eventually(async () => (await endOffsets(`${ns}.log-parser.dlq`).catch(() => 0)) === truth.garbled, {
    what: `${truth.garbled} dead letters`,
  });
  const parserPositions = async () =>
    (
      await admin.query<{ n: string }>(
        `select coalesce(sum(kafka_offset::bigint), 0)::text as n from pipeline_checkpoints where consumer_group = $1`,
        [`${ns}.log-parser`],
      )
    ).rows[0]?.n;
  await eventually(async () => (await parserPositions()) === String(lines), {
    what: 'the parser checkpointed every line',
  });

  const expected = truth.windows.size;
  const first: RunningService = await startService(MAIN, ['summarize', '--model'], env(), stops);
  await eventually(async () => (await summaries('levels+model')) >= expected * 0.3, {
    what: 'a third of the windows summarized',
  });
  await first.kill();
  const atKill = await summaries('levels+model');
  expect(atKill).toBeLessThan(expected);
  await startService(MAIN, ['summarize', '--model'], env(), stops);
  let have = 0;
  await eventually(
    async () => {
      have = await summaries('levels+model');
      return have === expected;
    },
    {
      timeoutMs: 120000,
      what: () => `${expected} summaries (have ${have})`,
    },
  );

  // Exactly the sample's windows, each with exactly its lines.
  const { rows } = await admin.query<{ key: string; lines: number; duplicates: number; published: boolean }>(
    `select service || '@' || (extract(epoch from window_start) * 1000)::bigint as key, lines, duplicates,
            published_at is not null as published
       from log_summaries where logic = 'levels+model'`,
  );
  expect(new Map(rows.map((r) => [r.key, r.lines]))).toEqual(truth.windows);
  expect(rows.every((r) => r.duplicates === 0)).toBe(true);
  await eventually(
    async () => (await admin.query('select 1 from log_summaries where published_at is null')).rowCount === 0,
    { what: 'every summary relayed' },
  );
  // Each window's model call made once: a window closed again after the kill took the journaled answer.
  const journal = await admin.query<{ n: number; calls: number }>(
    "select count(*)::int as n, coalesce(sum(calls), 0)::int as calls from agent_side_effects where agent = 'log-summarizer'",
  );
  expect(journal.rows[0]).toEqual({ n: expected, calls: expected });
  expect(modelCalls - expected).toBeGreaterThanOrEqual(0);
  expect(modelCalls - expected).toBeLessThanOrEqual(1); // a call answered just before the kill, not yet journaled
  // Upstream untouched: the parser neither re-read nor re-published anything.
  expect(await parserPositions()).toBe(String(lines));
  expect(await endOffsets(topic('parsed_log'))).toBe(truth.parsed);

  // The detector found every minute of every incident, and nothing else.
  const incidentMinutes = truth.incidents.flatMap((i) => {
    const out: string[] = [];
    for (let t = Date.parse(i.start); t < Date.parse(i.end); t += 60_000) out.push(`${i.service}@${t}`);
    return out;
  });
  await eventually(
    async () =>
      (
        await admin.query(
          "select 1 from log_baselines where logic = 'levels+model' and last_window_end >= $1",
          [new Date(truth.end)],
        )
      ).rowCount === truth.services.length,
    { what: 'the detector took in every summary' },
  );
  const anomalies = await admin.query<{ key: string }>(
    `select service || '@' || (extract(epoch from window_start) * 1000)::bigint as key from log_anomalies
      where logic = 'levels+model'`,
  );
  expect(anomalies.rows.map((r) => r.key).sort()).toEqual(incidentMinutes.sort());
});

test('replayed from a past time with changed logic, it re-summarizes from there and the detector sees the new summaries', async () => {
  // The running summarizer (levels+model) is stopped; the new logic starts and the group is replayed.
  for (const stop of stops.splice(2)) await stop();
  await startService(MAIN, ['summarize', '--logic', 'templates'], env(), stops);
  const from = truth.start - (truth.start % 60_000) + 5 * 60_000;
  const replayed = await accord(
    ['replay', SUMMARIZER, '--to-time', new Date(from).toISOString(), '--timeout', '120'],
    env(),
  );
  expect(replayed.stderr).not.toMatch(/error/i);
  expect(replayed.code).toBe(0);
  expect(replayed.stdout).toMatch(/caught up: \d+ event\(s\) re-processed/);

  const again = [...truth.windows.keys()].filter((k) => Number(k.split('@')[1]) >= from);
  let have = 0;
  await eventually(
    async () => {
      have = await summaries('templates');
      return have === again.length;
    },
    {
      what: () => `${again.length} new summaries (have ${have})`,
    },
  );
  const { rows } = await admin.query<{ key: string; lines: number; top: string[] }>(
    `select service || '@' || (extract(epoch from window_start) * 1000)::bigint as key, lines, top_messages as top
       from log_summaries where logic = 'templates'`,
  );
  expect(rows.map((r) => r.key).sort()).toEqual(again.sort());
  for (const r of rows)
    expect({ key: r.key, lines: r.lines }).toEqual({ key: r.key, lines: truth.windows.get(r.key) });
  expect(rows.some((r) => r.top.some((m) => m.includes('<n>')))).toBe(true); // the new logic's templates
  expect(await summaries('levels+model')).toBe(truth.windows.size); // the old ones stay, untouched

  // The detector took in every new summary under the new logic and finds the incidents after `from`.
  await eventually(
    async () =>
      (
        await admin.query<{ windows: number }>(
          "select coalesce(sum(windows), 0)::int as windows from log_baselines where logic = 'templates'",
        )
      ).rows[0]?.windows ===
      again.length - (await admin.query("select 1 from log_anomalies where logic = 'templates'")).rowCount!,
    { what: 'the detector took in the new summaries' },
  );
  const byLogic = await admin.query<{ logic: string; key: string }>(
    `select logic, service || '@' || (extract(epoch from window_start) * 1000)::bigint as key from log_anomalies
      where window_start >= $1 order by 2`,
    [new Date(from + 5 * 60_000)], // past the new baseline's warm-up
  );
  const keys = (logic: string) => byLogic.rows.filter((r) => r.logic === logic).map((r) => r.key);
  expect(keys('templates').length).toBeGreaterThan(0);
  expect(keys('templates')).toEqual(keys('levels+model'));
  // Every anomaly goes out as an event (the relay publishes after the detector's commit, at least once).
  await eventually(
    async () => (await admin.query('select 1 from log_anomalies where published_at is null')).rowCount === 0,
    { what: 'every anomaly relayed' },
  );
  const all = (await admin.query('select 1 from log_anomalies')).rowCount ?? 0;
  expect(await endOffsets(topic('log_anomaly'))).toBeGreaterThanOrEqual(all);
});
