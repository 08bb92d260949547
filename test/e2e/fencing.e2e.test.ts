/**
 * Fencing with real consumers: a transactional pipeline instance is frozen (SIGSTOP) in the middle of a
 * chunk, with its transaction open, past its session timeout. The group rebalances, a second instance
 * takes the partition and commits; then the first resumes and tries to commit its chunk: it is refused,
 * its effects are rolled back, and its fenced count says so. Every event's effect lands exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, resolveConfig } from '@accord/sdk';
import { eventually, TestContext } from '@accord/testing';
import { ROOT } from './cli';

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
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
  await publisher.close();
  await pool.end();
  await ctx.cleanup();
});

function holder(group: string, topic: string, instance: string, holdAt?: number) {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      join(ROOT, 'test/fixtures/holder.js'),
      group,
      topic,
      instance,
      ...(holdAt === undefined ? [] : [String(holdAt)]),
    ],
    { env: { ...process.env, DATABASE_URL: db.url() }, stdio: ['ignore', 'pipe', 'pipe'] },
  ) as ChildProcess & { output: string[] };
  child.output = [];
  child.stdout?.on('data', (d: Buffer) => child.output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => child.output.push(d.toString()));
  children.push(child);
  return child;
}

async function effects(): Promise<{ instance: string; off: number }[]> {
  const { rows } = await pool
    .query<{ instance: string; off: string }>(
      'select instance, off::text from t_fx order by t_fx.off, instance',
    )
    .catch(() => ({ rows: [] }));
  return rows.map((r) => ({ instance: r.instance, off: Number(r.off) }));
}

test('a member frozen past its session timeout is fenced: its in-flight chunk is refused and rolled back', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  await publisher.publishMany(
    Array.from({ length: 20 }, (_, n) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: n, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic },
    })),
  );
  // Chunks of 5: [0..4] and [5..9] commit, then the first instance holds at 12 inside chunk [10..14].
  const first = holder(group, topic, 'first', 12);
  await eventually(() => first.output.join('').includes('holding 12'), {
    timeoutMs: 60000,
    what: () => `the first instance holding at 12 (${first.output.join('')})`,
  });
  first.kill('SIGSTOP');
  expect((await effects()).map((e) => e.off)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  // The frozen member's session (6 s in test mode) expires; the second instance takes the partition.
  const second = holder(group, topic, 'second');
  await eventually(async () => (await effects()).length === 20, {
    timeoutMs: 90000,
    intervalMs: 250,
    what: () => `the second instance committing 10..19 (${second.output.join('')})`,
  });
  first.kill('SIGCONT');
  await eventually(() => first.output.join('').includes('fenced 1'), {
    timeoutMs: 60000,
    what: () => `the first instance fenced (${first.output.join('')})`,
  });

  const all = await effects();
  expect(all.map((e) => e.off)).toEqual(Array.from({ length: 20 }, (_, i) => i)); // each exactly once
  expect(all.filter((e) => e.off >= 10).every((e) => e.instance === 'second')).toBe(true);
  expect(all.filter((e) => e.off < 10).every((e) => e.instance === 'first')).toBe(true);
  const { rows } = await pool.query<{ kafka_offset: string }>(
    'select kafka_offset::text from pipeline_checkpoints where consumer_group = $1',
    [group],
  );
  expect(rows).toEqual([{ kafka_offset: '20' }]);
  for (const child of [first, second]) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
