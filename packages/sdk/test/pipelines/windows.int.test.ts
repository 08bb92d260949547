/**
 * Window checkpoints on the real stack: a windowed transactional pipeline writes each closed window with
 * its checkpoint (type window, value the closed interval, offset the next window's first event); stopped
 * with a window open, the next instance resumes after the last closed window and folds the open one again
 * from its first event: every window's output exactly once, with exactly its events.
 */
import { resolve } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  CheckpointStore,
  createPgPool,
  createPipeline,
  defineWindow,
  EventPublisher,
  type Pipeline,
  resolveConfig,
} from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';

jest.setTimeout(120000);

const config = resolveConfig();
const ctx = new TestContext(config);
const schema = uniqueName('t_schema', '_');
let pool: Pool;
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
const pipelines: Pipeline[] = [];

beforeAll(async () => {
  await migrate(config.postgres.url, resolve(__dirname, '../../../../infra/postgres/migrations'), { schema });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 8 });
  await pool.query(
    'create table t_windows (start_ms bigint primary key, events int not null, total int not null, late int not null)',
  );
});
afterAll(async () => {
  for (const p of pipelines) await p.stop();
  await publisher.close();
  await pool.end();
  await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  await ctx.cleanup();
});

const t0 = Date.UTC(2026, 10, 20, 10, 0, 0); // aligned to 10 s windows

async function publish(topic: string, times: number[]): Promise<void> {
  await publisher.publishMany(
    times.map((t, i) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: i, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic, occurredAt: t0 + t * 1000 },
    })),
  );
}

function windowed(topic: string, group: string): Pipeline {
  const p = createPipeline({
    name: group,
    topics: [topic],
    mode: 'transactional',
    config,
    pool,
    window: defineWindow({
      sizeMs: 10_000,
      init: () => ({ total: 0 }),
      add: (state, event) => ({ total: state.total + (event.value?.percent as number) }),
      close: async (w, { tx }) => {
        await tx?.query('insert into t_windows (start_ms, events, total, late) values ($1, $2, $3, $4)', [
          w.start,
          w.events,
          w.state.total,
          w.late,
        ]);
      },
    }),
  });
  pipelines.push(p);
  return p;
}

async function windows() {
  const { rows } = await pool.query<{ start_ms: string; events: number; late: number }>(
    'select start_ms::text, events, late from t_windows order by start_ms',
  );
  return rows.map((r) => ({ start: (Number(r.start_ms) - t0) / 1000, events: r.events, late: r.late }));
}

test('a windowed pipeline checkpoints at window closes and resumes after its last closed window', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  // Seconds 0..24: windows [0,10) and [10,20) close (at the events of 10 and 20); [20,30) stays open.
  // Second 5 arrives late, inside [10,20): it is folded there, never dropped.
  await publish(topic, [
    ...Array.from({ length: 10 }, (_, i) => i),
    10,
    11,
    12,
    5,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
  ]);
  const first = windowed(topic, group);
  await first.start();
  await eventually(async () => (await windows()).length === 2, { what: 'two closed windows' });
  expect(await windows()).toEqual([
    { start: 0, events: 10, late: 0 },
    { start: 10, events: 10, late: 1 },
  ]);
  const [row] = await new CheckpointStore(pool).list(group);
  expect(row).toMatchObject({
    checkpointType: 'window',
    checkpointValue: `${new Date(t0 + 10_000).toISOString()}/${new Date(t0 + 20_000).toISOString()}`,
    kafkaOffset: '20',
  });
  await first.stop(); // the open window [20,30) held 5 events in memory: gone with the instance

  await publish(topic, [25, 26, 27, 28, 29, 30]); // 30 closes [20,30)
  const second = windowed(topic, group);
  await second.start();
  await eventually(async () => (await windows()).length === 3, { what: 'the third window' });
  expect((await windows())[2]).toEqual({ start: 20, events: 10, late: 0 });
  const [after] = await new CheckpointStore(pool).list(group);
  expect(after).toMatchObject({ checkpointType: 'window', kafkaOffset: '30' });
});

test('a window that arrives over many fetches counts each event once, and its close asks a side effect once', async () => {
  // Regression: Kafka fetched from the checkpoint (the window's first event) after every batch, so a window
  // spread over several fetches was folded again each time (counted twice) or never got past its batch.
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const calls: number[] = [];
  const p = createPipeline({
    name: `log-${group}`,
    group,
    topics: [topic],
    mode: 'transactional',
    config,
    pool,
    window: defineWindow({
      sizeMs: 10_000,
      init: () => ({ total: 0 }),
      add: (state, event) => ({ total: state.total + (event.value?.percent as number) }),
      close: async (w, { tx, sideEffect }) => {
        const asked = await sideEffect('describe', () => {
          calls.push(w.start);
          return `window of ${w.events}`;
        });
        await tx?.query('insert into t_windows (start_ms, events, total, late) values ($1, $2, $3, $4)', [
          w.start + 1_000_000, // apart from the other test's rows
          w.events,
          w.state.total,
          asked === `window of ${w.events}` ? 0 : -1,
        ]);
      },
    }),
  });
  pipelines.push(p);
  await p.start();
  for (let second = 0; second < 10; second++) {
    await publish(topic, [second]);
    await eventually(async () => p.stats.processed === second + 1, { what: `event ${second} folded` });
  }
  await publish(topic, [10]); // closes [0,10)
  await eventually(
    async () =>
      (await pool.query('select 1 from t_windows where start_ms = $1', [t0 + 1_000_000])).rowCount === 1,
    { what: 'the window closed' },
  );
  const { rows } = await pool.query<{ events: number; total: number; late: number }>(
    'select events, total, late from t_windows where start_ms = $1',
    [t0 + 1_000_000],
  );
  // Each publish above is one event of percent 0 (publish numbers events from 0 per call): ten events.
  expect(rows[0]).toEqual({ events: 10, total: 0, late: 0 });
  expect(calls).toEqual([t0]);
  const journal = await pool.query<{ calls: number; result: unknown }>(
    'select calls, result from agent_side_effects where agent = $1',
    [`log-${group}`],
  );
  expect(journal.rows).toEqual([{ calls: 1, result: { value: 'window of 10' } }]);
});

test('window options are checked at construction', () => {
  expect(() =>
    createPipeline({ name: 'w', topics: ['t'], config, window: defineWindow({ sizeMs: 0 } as never) }),
  ).toThrow(/option window.sizeMs must be a positive integer/);
  expect(() => createPipeline({ name: 'w', topics: ['t'], config } as never)).toThrow(
    /option handler: must be a function \(or give option window\)/,
  );
});
