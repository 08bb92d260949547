/**
 * `accord replay` waits for a running pipeline to get past its replay, and says so when the pipeline
 * stops running before that (exit 1, with how far it got), instead of waiting half an hour.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, createPipeline, EventPublisher, type Pipeline, resolveConfig } from '@accord/sdk';
import { eventually, TestContext } from '@accord/testing';
import { ROOT } from './cli';

jest.setTimeout(180000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const pool = createPgPool(db.url(), { max: 4 });
const publisher = new EventPublisher({
  catalog: referenceCatalog,
  config,
  producer: 'test',
  autoRegister: true,
});
let pipeline: Pipeline | undefined;

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
});
afterAll(async () => {
  await pipeline?.stop();
  await publisher.close();
  await pool.end();
  await ctx.cleanup();
});

test('the pipeline stops while accord replay waits: the command says so and exits 1', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  await publisher.publishMany(
    Array.from({ length: 200 }, (_, n) => ({
      type: 'DiscountApproved',
      data: { orderId: 'o-1', percent: n % 50, approvedBy: 'pricing' },
      options: { entityId: 'o-1', topic },
    })),
  );
  let handled = 0;
  pipeline = createPipeline({
    name: group,
    topics: [topic],
    config: resolveConfig({ databaseUrl: db.url() }),
    pool,
    chunkSize: 10,
    handler: async (_event, c) => {
      handled++;
      // Re-processing is slow work here, so that the pipeline is still replaying when it stops.
      if (c.replay) await new Promise((r) => setTimeout(r, 40));
    },
  });
  await pipeline.start();
  await eventually(() => handled === 200, { what: 'the first pass' });

  const child = spawn('bash', [join(ROOT, 'scripts/accord'), 'replay', group, '--to-earliest'], {
    env: { ...process.env, DATABASE_URL: db.url() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  await eventually(() => /replay #\d+ recorded and applied/.test(stdout) && handled > 205, {
    what: () => `the replay under way (${stdout}${stderr})`,
  });
  await pipeline.stop();
  pipeline = undefined;
  const code = await exited;
  expect(code).toBe(1);
  expect(stdout).toMatch(
    new RegExp(
      `${group} stopped running before the replay finished \\(\\d+/200 re-processed\\): it continues when the pipeline starts again \\(see accord lag ${group}\\)`,
    ),
  );
  expect(stderr).toMatch(/^ {2}replay progress: \d+\/200 event\(s\)$/m);
  expect(stderr).not.toContain('\r');
});
