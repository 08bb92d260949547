/**
 * The story that lost events before checkpoints knew their log, as a user meets it: a private stack is
 * brought up, the archive checkpoints 3 events, the stack goes down, the broker's storage is replaced
 * (a new cluster) while Postgres keeps its tables, 20 events are published for one order and the archive
 * starts again. It must refuse with the reason and the command that resolves it; `accord checkpoints
 * rebind --from earliest` then resolves it, and all 20 events are archived exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, resolveConfig } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';
import { accord, freePort, grantService, logLines, ROOT } from './cli';

jest.setTimeout(300000);

const TOPIC = 'commerce.order.events';
const ctx = new TestContext();
const db = ctx.database();
const stateDir = mkdtempSync(join(tmpdir(), 'accord-rebind-'));
const children: ChildProcess[] = [];
let env: Record<string, string>;
let pool: Pool;

beforeAll(async () => {
  env = {
    ACCORD_STATE_DIR: stateDir,
    ACCORD_KAFKA_PORT: String(await freePort()),
    ACCORD_KAFKA_CONTROLLER_PORT: String(await freePort()),
    ACCORD_REGISTRY_PORT: String(await freePort()),
  };
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  pool = createPgPool(db.url(), { max: 2 });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await accord(['down'], env);
  rmSync(stateDir, { recursive: true, force: true });
  await pool.end();
  await ctx.cleanup();
});

const brokers = () => `127.0.0.1:${env.ACCORD_KAFKA_PORT}`;
const registry = () => `http://127.0.0.1:${env.ACCORD_REGISTRY_PORT}`;
/** The CLI against the private stack, with the test's own Postgres schema. */
const cli = (args: string[]) => accord(args, { ...env, DATABASE_URL: db.url() });

async function startArchive(group: string): Promise<ChildProcess & { output: string[] }> {
  await grantService('services/archive/dist/main.js', ['--group', group], {
    ...env,
    KAFKA_BROKERS: brokers(),
  });
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      join(ROOT, 'services/archive/dist/main.js'),
      '--group',
      group,
      '--topics',
      `^commerce\\.order\\.events$`,
    ],
    {
      env: {
        ...process.env,
        ...env,
        KAFKA_BROKERS: brokers(),
        SCHEMA_REGISTRY_URL: registry(),
        ARCHIVE_DATABASE_URL: db.url('accord_archive'),
        ACCORD_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ) as ChildProcess & { output: string[] };
  child.output = [];
  child.stdout?.on('data', (d: Buffer) => child.output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => child.output.push(d.toString()));
  children.push(child);
  return child;
}

async function publish(orderId: string, count: number): Promise<string[]> {
  // The private stack's operator (its own secrets, under its state dir).
  const config = resolveConfig(
    { kafkaBrokers: [brokers()], schemaRegistryUrl: registry() },
    { ...process.env, ...env },
  );
  const publisher = new EventPublisher({ catalog: referenceCatalog, config, producer: 'pricing-agent' });
  try {
    const sent = await publisher.publishMany(
      Array.from({ length: count }, (_, n) => ({
        type: 'DiscountApproved',
        data: { orderId, percent: n, approvedBy: 'pricing' },
        options: { entityId: orderId },
      })),
    );
    return sent.map((s) => s.eventId);
  } finally {
    await publisher.close();
  }
}

async function archivedOf(orderId: string): Promise<{ rows: number; ids: number }> {
  const { rows } = await pool.query<{ rows: string; ids: string }>(
    'select count(*) as rows, count(distinct event_id) as ids from event_archive where entity_id = $1',
    [orderId],
  );
  return { rows: Number(rows[0]?.rows), ids: Number(rows[0]?.ids) };
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

test('a new broker under old checkpoints: the archive refuses and says why, rebind resolves it, all 20 events archived once', async () => {
  const up = await accord(['up'], env);
  expect(up).toMatchObject({ code: 0, stderr: '' });
  const group = uniqueName('t-archive');
  const before = uniqueName('order');
  await publish(before, 3);
  const first = await startArchive(group);
  await eventually(async () => (await archivedOf(before)).rows === 3, {
    timeoutMs: 60000,
    what: () => `3 archived events (${first.output.join('')})`,
  });
  await stop(first);
  const { rows: old } = await pool.query<{ cluster_id: string }>(
    'select distinct cluster_id from pipeline_checkpoints where consumer_group = $1',
    [group],
  );
  expect(old).toHaveLength(1);

  // The stack goes down; the broker comes back with new storage (a new cluster); Postgres keeps its tables.
  expect(await accord(['down'], env)).toMatchObject({ code: 0, stderr: '' });
  rmSync(join(stateDir, 'kafka', 'data'), { recursive: true, force: true });
  const again = await accord(['up'], env);
  expect(again).toMatchObject({ code: 0, stderr: '' });
  expect(again.stdout).toContain('[up] kafka: formatted storage');

  const order = uniqueName('order');
  const ids = await publish(order, 20);
  const second = await startArchive(group);
  const refusal = await eventually(
    () => logLines(second.output).find((l) => l.incident === 'identity-changed'),
    { timeoutMs: 60000, what: () => `the archive's refusal (${second.output.join('')})` },
  );
  expect(refusal).toMatchObject({ level: 'warn', service: 'archive', group, topic: 'commerce.order.events' });
  expect(refusal.msg).toMatch(
    new RegExp(
      `belongs to cluster ${old[0]?.cluster_id} topic id \\S+, but the log is now cluster (?!${old[0]?.cluster_id})\\S+`,
    ),
  );
  expect(refusal.msg).toContain(
    `refusing to process this partition; resolve with: accord checkpoints rebind ${group} --from earliest|latest|<ISO time>`,
  );
  expect(await archivedOf(order)).toEqual({ rows: 0, ids: 0 });

  const lag = await cli(['lag', group]);
  expect(lag.code).toBe(1);
  expect(lag.stdout).not.toMatch(/caught up/);
  expect(lag.stdout).toMatch(new RegExp(`${TOPIC.replace(/\./g, '\\.')}\\s+\\d\\s+.*halted$`, 'm'));
  const listed = await cli(['checkpoints', group]);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/recent incidents of .*\n\s+#\d+ .* identity-changed \(halted\): checkpoint/);

  const rebind = await cli(['checkpoints', 'rebind', group, '--from', 'earliest']);
  expect(rebind.stderr).toBe('');
  expect(rebind.code).toBe(0);
  expect(rebind.stdout).toMatch(/rebind #\d+ recorded and applied to 6 partition\(s\)/);

  await eventually(async () => (await archivedOf(order)).rows === 20, {
    timeoutMs: 60000,
    what: () => `20 archived events after the rebind (${second.output.join('')})`,
  });
  await stop(second);
  expect(await archivedOf(order)).toEqual({ rows: 20, ids: 20 });
  const { rows: archivedIds } = await pool.query<{ event_id: string }>(
    'select event_id from event_archive where entity_id = $1 order by kafka_offset',
    [order],
  );
  expect(archivedIds.map((r) => r.event_id)).toEqual(ids);
  const after = await cli(['lag', group]);
  expect(after.code).toBe(0);
  expect(after.stdout).not.toMatch(/halted|identity changed/);
});
