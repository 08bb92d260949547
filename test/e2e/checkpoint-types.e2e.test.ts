/**
 * Timestamp checkpoints end to end: a pipeline process records the event time of the last event it
 * processed; `accord checkpoints` shows it; a replay by time while stopped re-processes exactly the events
 * at or after that time when the process starts again, and the checkpoint comes back to the same time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, resolveConfig } from '@accord/sdk';
import { eventually, TestContext } from '@accord/testing';
import { accord, ROOT } from './cli';

jest.setTimeout(180000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const pool = createPgPool(db.url(), { max: 2 });
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
const children: ChildProcess[] = [];

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await publisher.close();
  await pool.end();
  await ctx.cleanup();
});

function recorder(group: string, topic: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      join(ROOT, 'test/fixtures/recorder.js'),
      group,
      topic,
      'transactional',
      'timestamp',
    ],
    { env: { ...process.env, DATABASE_URL: db.url() }, stdio: 'ignore' },
  );
  children.push(child);
  return child;
}

async function seen(group: string): Promise<{ off: string; replay: boolean }[]> {
  const { rows } = await pool
    .query<{ off: string; replay: boolean }>(
      'select off::text, replay from t_seen where grp = $1 order by off',
      [group],
    )
    .catch(() => ({ rows: [] }));
  return rows;
}

test('timestamp checkpoints: the event time of the last event, shown by the CLI, and a replay by time from it', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);
  await publisher.publishMany(
    Array.from({ length: 30 }, (_, n) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: n, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic, occurredAt: t0 + n * 1000 },
    })),
  );
  const first = recorder(group, topic);
  await eventually(async () => (await seen(group)).length === 30, { timeoutMs: 60000, what: '30 events' });
  first.kill('SIGTERM');
  await once(first, 'exit');

  const list = await accord(['checkpoints', group, '--json'], { DATABASE_URL: db.url() });
  expect(list.code).toBe(0);
  const [row] = JSON.parse(list.stdout).checkpoints;
  expect(row).toMatchObject({
    checkpoint: '30',
    checkpointType: 'timestamp',
    checkpointValue: new Date(t0 + 29_000).toISOString(),
    state: 'caught up',
  });
  const table = await accord(['checkpoints', group], { DATABASE_URL: db.url() });
  expect(table.stdout).toMatch(new RegExp(`\\s30\\s+timestamp\\s+${new Date(t0 + 29_000).toISOString()}\\s`));

  const replay = await accord(['replay', group, '--to-time', new Date(t0 + 20_000).toISOString()], {
    DATABASE_URL: db.url(),
  });
  expect(replay.code).toBe(0);
  expect(replay.stdout).toMatch(/\s30 → 20\s+30\s+10\n\s+10 event\(s\) will be processed again/);

  const second = recorder(group, topic);
  await eventually(async () => (await seen(group)).length === 40, { timeoutMs: 60000, what: '10 replayed' });
  const replayed = (await seen(group)).filter((r) => r.replay);
  expect(replayed.map((r) => Number(r.off))).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  second.kill('SIGTERM');
  await once(second, 'exit');
  const after = JSON.parse(
    (await accord(['checkpoints', group, '--json'], { DATABASE_URL: db.url() })).stdout,
  );
  expect(after.checkpoints[0]).toMatchObject({
    checkpoint: '30',
    checkpointType: 'timestamp',
    checkpointValue: new Date(t0 + 29_000).toISOString(),
  });
});
