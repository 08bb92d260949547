/**
 * The event archive as a process: it is killed (SIGKILL) mid-way through 10,000 events and restarted,
 * and still holds each event exactly once; `accord events` then returns each entity's sequence in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, resolveConfig } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { accord, grantService, logLines, ROOT } from './cli';

jest.setTimeout(240000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const adminUrl = db.url();
const archiveUrl = db.url('accord_archive');
const pool = createPgPool(adminUrl, { max: 2 });
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await pool.end();
  await ctx.cleanup();
});

async function startArchive(group: string, topic: string): Promise<ChildProcess & { output: string[] }> {
  await grantService('services/archive/dist/main.js', ['--group', group], {});
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      join(ROOT, 'services/archive/dist/main.js'),
      '--group',
      group,
      '--topics',
      `^${topic}$`,
    ],
    {
      env: { ...process.env, ARCHIVE_DATABASE_URL: archiveUrl, ACCORD_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ) as ChildProcess & { output: string[] };
  child.output = [];
  child.stdout?.on('data', (d: Buffer) => child.output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => child.output.push(d.toString()));
  children.push(child);
  return child;
}

async function archived(): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from event_archive');
  return Number(rows[0]?.n);
}

test('killed and restarted mid-way, the archive holds every event exactly once, and accord events replays them in order', async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const topic = `${uniqueName('t')}.order.events`;
  const admin = await ctx.kafkaAdmin();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
  ctx.onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] });
  });

  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'pricing-agent',
    autoRegister: true,
  });
  const total = 10_000;
  const entities = 200;
  const ids = new Map<string, string[]>();
  try {
    for (let start = 0; start < total; start += 1000) {
      const batch = Array.from({ length: 1000 }, (_, j) => {
        const n = start + j;
        const entityId = `order-${n % entities}`;
        return {
          type: 'DiscountApproved',
          data: { orderId: entityId, percent: Math.floor(n / entities), approvedBy: 'pricing' },
          options: { entityId, topic },
        };
      });
      for (const sent of await publisher.publishMany(batch))
        ids.set(sent.entityId, [...(ids.get(sent.entityId) ?? []), sent.eventId]);
    }
  } finally {
    await publisher.close();
  }

  const group = uniqueName('t-archive');
  const first = await startArchive(group, topic);
  const atKill = await eventually(
    async () => {
      const n = await archived();
      return n > 0 ? n : undefined;
    },
    { timeoutMs: 60000, intervalMs: 20, what: `the archive's first commit (${first.output.join('')})` },
  );
  first.kill('SIGKILL');
  await once(first, 'exit');
  expect(atKill).toBeLessThan(total); // killed mid-way, not after the end

  const second = await startArchive(group, topic);
  await eventually(
    () => logLines(second.output).some((l) => l.msg === 'running' && l.service === 'archive'),
    {
      timeoutMs: 60000,
    },
  );

  await eventually(async () => (await archived()) >= total, {
    timeoutMs: 120000,
    intervalMs: 200,
    what: `${total} archived rows (${second.output.join('')})`,
  });
  second.kill('SIGTERM');
  const [code] = await once(second, 'exit');
  expect(code).toBe(0);
  const stopped = logLines(second.output).find((l) => l.msg === 'stopped');
  expect(stopped).toMatchObject({ level: 'info', service: 'archive', deadLettered: 0 });
  expect(stopped?.processed).toBeGreaterThan(0);

  const { rows } = await pool.query<{ rows: string; ids: string }>(
    'select count(*) as rows, count(distinct event_id) as ids from event_archive',
  );
  expect(rows[0]).toEqual({ rows: String(total), ids: String(total) });
  const { rows: checkpoints } = await pool.query<{ total: string }>(
    'select sum(kafka_offset) as total from pipeline_checkpoints where consumer_group = $1',
    [group],
  );
  expect(checkpoints[0]?.total).toBe(String(total));

  for (const entityId of ['order-0', 'order-137']) {
    const result = await accord(['events', 'order', entityId, '--json'], { DATABASE_URL: adminUrl });
    expect(result.code).toBe(0);
    const events = JSON.parse(result.stdout) as {
      eventId: string;
      payload: { percent: number };
      producer: string;
    }[];
    expect(events.map((e) => e.eventId)).toEqual(ids.get(entityId));
    expect(events.map((e) => e.payload.percent)).toEqual(
      Array.from({ length: total / entities }, (_, i) => i),
    );
    expect(events[0]?.producer).toBe('pricing-agent');
  }
  const table = await accord(['events', 'order', 'order-5', '--limit', '3', '--type', 'DiscountApproved'], {
    DATABASE_URL: adminUrl,
  });
  expect(table.stdout).toMatch(/^OCCURRED AT\s+TYPE\s+PRODUCER\s+EVENT ID\s+DATA$/m);
  expect(table.stdout).toContain('(3 event(s) of order order-5)');
});

test('the archive role may insert and read the archive, but never update or delete it', async () => {
  const archive = createPgPool(archiveUrl, { max: 1 });
  try {
    await expect(archive.query('update event_archive set producer = $1', ['x'])).rejects.toMatchObject({
      code: '42501',
    });
    await expect(archive.query('delete from event_archive')).rejects.toMatchObject({ code: '42501' });
    await expect(archive.query('select count(*) from event_archive')).resolves.toMatchObject({
      rows: [{ count: expect.stringMatching(/^\d+$/) }],
    });
  } finally {
    await archive.end();
  }
});

test('accord publish of 100 events for one entity; accord events and accord tail --entity show the same 100 in order', async () => {
  const topic = `${uniqueName('t')}.order.events`;
  const admin = await ctx.kafkaAdmin();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }] });
  ctx.onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] });
  });
  const entity = uniqueName('order');
  const lines = Array.from({ length: 100 }, (_, n) =>
    JSON.stringify({ orderId: entity, percent: n, approvedBy: 'cli' }),
  ).join('\n');
  const published = await new Promise<{ code: number; stdout: string }>((done) => {
    const child = spawn(
      'bash',
      [join(ROOT, 'scripts/accord'), 'publish', topic, '--type', 'DiscountApproved', '--entity', entity],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('exit', (code) => done({ code: code ?? 1, stdout }));
    child.stdin?.end(`${lines}\n`);
  });
  expect(published).toEqual({ code: 0, stdout: `published 100 events to ${topic}\n` });

  const archive = await startArchive(uniqueName('t-archive'), topic);
  await eventually(
    async () => {
      const { rows } = await pool.query<{ n: string }>(
        'select count(*) as n from event_archive where entity_id = $1',
        [entity],
      );
      return Number(rows[0]?.n) === 100;
    },
    { timeoutMs: 60000, what: () => `100 archived events (${archive.output.join('')})` },
  );
  archive.kill('SIGTERM');
  await once(archive, 'exit');

  const events = await accord(['events', 'order', entity, '--json'], { DATABASE_URL: adminUrl });
  const fromArchive = (JSON.parse(events.stdout) as { eventId: string; payload: { percent: number } }[]).map(
    (e) => [e.eventId, e.payload.percent],
  );
  const tail = await accord([
    'tail',
    topic,
    '--from',
    'earliest',
    '--entity',
    entity,
    '--max',
    '100',
    '--json',
  ]);
  expect(tail.code).toBe(0);
  const fromTopic = tail.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { value: { envelope: { eventId: string }; percent: number } })
    .map((r) => [r.value.envelope.eventId, r.value.percent]);
  expect(fromArchive.map(([, n]) => n)).toEqual(Array.from({ length: 100 }, (_, n) => n));
  expect(fromTopic).toEqual(fromArchive);
});
