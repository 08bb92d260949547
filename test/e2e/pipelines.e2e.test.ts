/**
 * Pipelines as users run them: killed with SIGKILL ten times while consuming 50,000 events (two groups on
 * one topic, one per mode), replayed by time while running, bounded replays, new consumers from a time,
 * and Kafka's own consumer-groups tool agreeing with the table (dead letters: dead-letters.e2e.test.ts).
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CheckpointStore, createPipeline, type PipelineEvent } from '@accord/sdk';
import { eventually } from '@accord/testing';
import { ROOT } from './cli';
import { cli, config, ctx, pipelines, pool, publish, recorder, scoped, seen } from './pipelines/kit';

jest.setTimeout(300000);

test('(a)+(c) ten SIGKILLs over 50,000 events: none lost, transactional applies each exactly once, groups stay independent', async () => {
  const topic = await ctx.createTopic({ partitions: 4 });
  const total = 50_000;
  const ids = await publish(topic, total);
  const exactly = ctx.group();
  const atLeast = ctx.group();
  let tx = recorder(exactly, topic, 'transactional');
  let alo = recorder(atLeast, topic, 'at-least-once');
  for (let kill = 1; kill <= 10; kill++) {
    const [beforeTx, beforeAlo] = [await seen(exactly), await seen(atLeast)];
    // Let each make some progress, then kill both without warning.
    await eventually(async () => (await seen(exactly)) > beforeTx && (await seen(atLeast)) > beforeAlo, {
      timeoutMs: 60000,
      intervalMs: 50,
      what: `progress before kill ${kill}`,
    });
    tx.kill('SIGKILL');
    alo.kill('SIGKILL');
    await Promise.all([once(tx, 'exit'), once(alo, 'exit')]);
    tx = recorder(exactly, topic, 'transactional');
    alo = recorder(atLeast, topic, 'at-least-once');
  }
  const store = new CheckpointStore(pool);
  const caughtUp = async (group: string) =>
    (await store.list(group)).reduce((s, r) => s + Number(r.kafkaOffset), 0) === total;
  await eventually(async () => (await caughtUp(exactly)) && (await caughtUp(atLeast)), {
    timeoutMs: 180000,
    intervalMs: 500,
    what: 'both groups caught up',
  });
  tx.kill('SIGTERM');
  alo.kill('SIGTERM');
  await Promise.all([once(tx, 'exit'), once(alo, 'exit')]);

  const { rows: txRows } = await pool.query<{ ids: string; dupes: string }>(
    `select count(distinct event_id) as ids, count(*) - count(distinct event_id) as dupes from t_seen where grp = $1`,
    [exactly],
  );
  expect(txRows[0]).toEqual({ ids: String(total), dupes: '0' });
  const { rows: aloRows } = await pool.query<{ ids: string }>(
    'select count(distinct event_id) as ids from t_seen where grp = $1',
    [atLeast],
  );
  expect(aloRows[0]?.ids).toBe(String(total));
  const { rows: missing } = await pool.query(
    'select count(*) as n from unnest($1::text[]) id where id not in (select event_id from t_seen where grp = $2)',
    [ids, exactly],
  );
  expect(missing[0]).toEqual({ n: '0' });

  // Kafka's stock consumer-groups tool shows the offsets the table holds (logged in as the operator, with
  // a client properties file of mode 0600 that goes away with the test's directory).
  const sasl = config.kafka.sasl;
  const clientProperties = join(mkdtempSync(join(tmpdir(), 'accord-kafka-tool-')), 'client.properties');
  writeFileSync(
    clientProperties,
    sasl
      ? `security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${sasl.username}" password="${sasl.password}";\n`
      : '',
    { mode: 0o600 },
  );
  const describe = await new Promise<string>((done, fail) =>
    execFile(
      'java',
      [
        '-cp',
        `${join(ROOT, '.accord/kafka/libs')}/*`,
        'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
        '--bootstrap-server',
        config.kafka.brokers[0]!,
        '--command-config',
        clientProperties,
        '--describe',
        '--group',
        exactly,
      ],
      { timeout: 60000 },
      (error, stdout) => (error ? fail(error) : done(stdout)),
    ),
  );
  rmSync(dirname(clientProperties), { recursive: true, force: true });
  for (const row of await store.list(exactly)) {
    expect(describe).toMatch(
      new RegExp(`${exactly}\\s+${topic}\\s+${row.partition}\\s+${row.kafkaOffset}\\s`),
    );
  }
});

test('(b) replay --to-time while running re-processes exactly the events at or after that time; --until bounds it', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const group = ctx.group();
  const t0 = Date.UTC(2026, 10, 1, 12, 0, 0);
  await publish(topic, 100, (n) => t0 + n * 1000);
  const log: { n: number; ts: number; replay: boolean }[] = [];
  const pipeline = createPipeline({
    name: group,
    topics: [topic],
    config: scoped,
    pool,
    handler: (e: PipelineEvent, c) =>
      void log.push({ n: e.value?.percent as number, ts: Number(e.timestamp), replay: c.replay }),
  });
  pipelines.push(pipeline);
  await pipeline.start();
  await eventually(() => log.length === 100, { what: '100 events' });

  const dry = await cli(['replay', group, '--to-time', new Date(t0 + 60_000).toISOString(), '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/\(pipeline running\)/);
  expect(dry.stdout).toContain('40 event(s) will be processed again');
  expect(log).toHaveLength(100); // a dry run changes nothing

  const replay = await cli(['replay', group, '--to-time', new Date(t0 + 60_000).toISOString()]);
  // Not a terminal: plain progress lines, never carriage-return frames.
  expect(replay.stderr).toMatch(/replay progress: 40\/40 event\(s\)\n$/);
  expect(replay.stderr).not.toContain('\r');
  expect(replay.code).toBe(0);
  expect(replay.stdout).toMatch(/caught up: 40 event\(s\) re-processed/);
  await eventually(() => log.length === 140, { what: '40 replayed events' });
  const replayed = log.slice(100);
  expect(replayed.every((e) => e.replay && e.ts >= t0 + 60_000)).toBe(true);
  expect(replayed.map((e) => e.n).sort((a, b) => a - b)).toEqual(
    Array.from({ length: 40 }, (_, i) => 60 + i),
  );

  // Bounded: re-process [20 s, 30 s), then continue live from where it was.
  const bounded = await cli([
    'replay',
    group,
    '--to-time',
    new Date(t0 + 20_000).toISOString(),
    '--until',
    new Date(t0 + 30_000).toISOString(),
  ]);
  expect(bounded.code).toBe(0);
  await eventually(() => log.length === 150, { what: '10 replayed events' });
  expect(
    log
      .slice(140)
      .map((e) => e.n)
      .sort((a, b) => a - b),
  ).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
  await publish(topic, 1, () => t0 + 500_000);
  await eventually(() => log.length === 151, { what: 'the new live event' });
  expect(log[150]).toMatchObject({ replay: false, ts: t0 + 500_000 });

  // Every replay is recorded.
  const { rows } = await pool.query(
    'select target, while_running from pipeline_replays where consumer_group = $1 order by id',
    [group],
  );
  expect(rows).toEqual([
    { target: `time ${new Date(t0 + 60_000).toISOString()}`, while_running: true },
    { target: `time ${new Date(t0 + 20_000).toISOString()}`, while_running: true },
  ]);
});

test('(f) consumers add --from <time> starts a new group exactly there; (c) the first group is unaffected; replay while stopped', async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  const t0 = Date.UTC(2026, 10, 2, 8, 0, 0);
  await publish(topic, 50, (n) => t0 + n * 1000);
  const first = ctx.group();
  const late = ctx.group();
  const firstSeen: number[] = [];
  const p1 = createPipeline({
    name: first,
    topics: [topic],
    config: scoped,
    pool,
    handler: (e) => void firstSeen.push(e.value?.percent as number),
  });
  pipelines.push(p1);
  await p1.start();
  await eventually(() => firstSeen.length === 50, { what: 'the first group' });

  const add = await cli([
    'consumers',
    'add',
    late,
    '--topic',
    topic,
    '--from',
    new Date(t0 + 35_000).toISOString(),
    '--json',
  ]);
  expect(add.code).toBe(0);
  expect(JSON.parse(add.stdout).positions).toHaveLength(2);
  const again = await cli(['consumers', 'add', late, '--topic', topic]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already has checkpoints on .*use accord replay/);

  const lateSeen: { n: number; ts: number }[] = [];
  const p2 = createPipeline({
    name: late,
    topics: [topic],
    config: scoped,
    pool,
    handler: (e) => void lateSeen.push({ n: e.value?.percent as number, ts: Number(e.timestamp) }),
  });
  pipelines.push(p2);
  await p2.start();
  await eventually(() => lateSeen.length >= 15, {
    timeoutMs: 60_000,
    what: () =>
      `15 events for the late group (seen ${lateSeen.length}: ${lateSeen.map((e) => e.n).join(',')})`,
  });
  expect(lateSeen.every((e) => e.ts >= t0 + 35_000)).toBe(true);
  expect(lateSeen.map((e) => e.n).sort((a, b) => a - b)).toEqual(
    Array.from({ length: 15 }, (_, i) => 35 + i),
  );
  expect(firstSeen).toHaveLength(50);

  const checkpoints = await cli(['checkpoints', first, '--json']);
  const { checkpoints: rows, incidents } = JSON.parse(checkpoints.stdout) as {
    checkpoints: { partition: number; checkpoint: string; lag: number; state: string; verdict: string }[];
    incidents: unknown[];
  };
  expect(rows.reduce((s, r) => s + Number(r.checkpoint), 0)).toBe(50);
  expect(rows.every((r) => r.lag === 0 && r.state === 'caught up' && r.verdict === 'ok')).toBe(true);
  expect(incidents).toEqual([]);

  // Stopped: the table and Kafka's committed offsets move together; the next start re-processes.
  await p2.stop();
  const stopped = await cli(['replay', late, '--to-earliest']);
  expect(stopped.code).toBe(0);
  expect(stopped.stdout).toMatch(/\(pipeline stopped\)/);
  const [committed] = await (await ctx.kafkaAdmin()).fetchOffsets({ groupId: late, topics: [topic] });
  expect(committed?.partitions.map((p) => p.offset).sort()).toEqual(['0', '0']);
  const replayedLate: boolean[] = [];
  const p3 = createPipeline({
    name: late,
    topics: [topic],
    config: scoped,
    pool,
    handler: (_e, c) => void replayedLate.push(c.replay),
  });
  pipelines.push(p3);
  await p3.start();
  await eventually(() => replayedLate.length === 50, { what: 'the late group re-processing everything' });
  expect(replayedLate.every(Boolean)).toBe(true);
});
