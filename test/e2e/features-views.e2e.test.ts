/**
 * The feature service's views spread over two processes (`--views`), as an operator keeps each process
 * smaller: each process runs only its views' groups, together they compute every view, and a view name
 * that does not exist stops the service at start, naming the views there are. Each says its heap ceiling
 * (the one started without V8 flags is warned that it has none).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import { CheckpointStore, createPgPool, EventPublisher, resolveConfig, serviceNodeFlags } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { logLines, ROOT, startService } from './cli';

jest.setTimeout(240000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const pool = createPgPool(db.url(), { max: 2 });
const prefix = ctx.redisPrefix();
const ns = uniqueName('t-ns');
const group = uniqueName('t-features');
const stops: (() => Promise<void>)[] = [];
const env = () => ({ DATABASE_URL: db.url(), ACCORD_TOPIC_NAMESPACE: ns, ACCORD_LOG_LEVEL: 'info' });
const topics = [...new Set(COMMERCE_VIEWS.flatMap((v) => v.topics))].map((t) => `${ns}.${t}`);

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafka = await ctx.kafkaAdmin();
  await kafka.createTopics({
    waitForLeaders: true,
    topics: topics.map((topic) => ({ topic, numPartitions: 2 })),
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await pool.end();
  const kafka = await ctx.kafkaAdmin();
  await kafka.deleteTopics({ topics }).catch(() => {});
  await ctx.cleanup();
});

test('two processes, each with some of the views, compute every view once between them', async () => {
  const names = [...new Set(COMMERCE_VIEWS.map((v) => v.name))];
  const first = names.slice(0, 3);
  const second = names.slice(3);
  const args = (views: string[]) => ['--group', group, '--prefix', prefix, '--views', views.join(',')];
  // One started as by hand without V8 flags, one with the feature service's heap profile.
  const a = await startService('services/features/dist/main.js', args(first), env(), stops);
  const flags = serviceNodeFlags({}, 'features');
  const b = await startService('services/features/dist/main.js', args(second), env(), stops, flags);
  const groupsOf = (output: string[]) =>
    (logLines(output).find((l) => l.msg === 'running')?.groups as string[] | undefined)?.sort();
  const expected = (views: string[]) =>
    COMMERCE_VIEWS.filter((v) => views.includes(v.name))
      .map((v) => `${group}.${v.name}.v${v.version}`)
      .sort();
  expect({ a: groupsOf(a.output), b: groupsOf(b.output) }).toEqual({
    a: expected(first),
    b: expected(second),
  });
  // Each says its heap ceiling and what its pipelines fetch at once (the service profile's 512 KiB); the one
  // without the profile's flags is told it has no ceiling, and which flags bound it.
  const heapOf = (output: string[]) => {
    const lines = logLines(output);
    const running = lines.find((l) => l.msg === 'running');
    return {
      limitMb: running?.heapLimitMb as number,
      fetchMaxBytes: running?.fetchMaxBytes,
      warned: lines.find((l) => String(l.msg).startsWith('no heap ceiling'))?.flags,
    };
  };
  expect(heapOf(a.output)).toEqual({
    limitMb: expect.any(Number),
    fetchMaxBytes: 512 * 1024,
    warned: flags.join(' '),
  });
  expect(heapOf(a.output).limitMb).toBeGreaterThan(1024);
  expect(heapOf(b.output)).toEqual({
    limitMb: expect.any(Number),
    fetchMaxBytes: 512 * 1024,
    warned: undefined,
  });
  expect(heapOf(b.output).limitMb).toBeLessThanOrEqual(64);

  // Every view's group reaches the end of the orders topic, in whichever process runs it.
  const orders = `${ns}.commerce.order.events`;
  const publisher = new EventPublisher({ catalog: referenceCatalog, config, producer: 'test' });
  stops.push(() => publisher.close());
  await publisher.publishMany(
    Array.from({ length: 20 }, (_, i) => ({
      type: 'OrderPlaced' as const,
      data: { orderId: `o-${i}`, customerId: `c-${i % 3}`, lines: [], totalCents: 100, currency: 'EUR' },
      options: { entityId: `o-${i}`, topic: orders },
    })),
  );
  const readers = COMMERCE_VIEWS.filter((v) => v.topics.some((t) => `${ns}.${t}` === orders));
  const store = new CheckpointStore(pool);
  await eventually(
    async () => {
      for (const v of readers) {
        const rows = (await store.list(`${group}.${v.name}.v${v.version}`)).filter((r) => r.topic === orders);
        if (rows.reduce((s, r) => s + Number(r.kafkaOffset), 0) !== 20) return undefined;
      }
      return true;
    },
    { timeoutMs: 120000, what: 'every view reading orders at its end' },
  );
});

test('a view that does not exist stops the service at start, naming the views there are', async () => {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'services/features/dist/main.js'), '--group', group, '--views', 'order_count,nope'],
    { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const [code] = await once(child, 'exit');
  expect(code).toBe(1);
  expect(output.join('')).toContain(`--views: unknown view \\"nope\\"; the views are order_count`);
});
