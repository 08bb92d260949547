/**
 * `accord replay` of a group with a member that is not an Accord pipeline (a plain kafkajs consumer): the
 * member cannot write the positions it holds in memory when asked, and the operator is told so, with how
 * many, instead of the plan passing over it.
 */
import { join } from 'node:path';
import { CheckpointStore, createPgPool, resolveConfig } from '@accord/sdk';
import { TestContext, uniqueName } from '@accord/testing';
import { accord, ROOT } from './cli';

jest.setTimeout(120000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const pool = createPgPool(db.url(), { max: 2 });

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
});
afterAll(async () => {
  await pool.end();
  await ctx.cleanup();
});

test('a replay plan says how many members did not write their positions (text and JSON)', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = uniqueName('t-unflushed');
  await new CheckpointStore(pool).seed(group, group, [{ topic, partition: 0, offset: '0' }]);
  const leave = await ctx.plainMember(group, topic);
  try {
    const dry = await accord(['replay', group, '--to-earliest', '--dry-run'], { DATABASE_URL: db.url() });
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({ code: 0, stderr: '' });
    expect(dry.stdout).toContain(
      `warning: 1 member(s) of ${group} did not write the positions they hold in memory`,
    );
    const json = await accord(['replay', group, '--to-earliest', '--dry-run', '--json'], {
      DATABASE_URL: db.url(),
    });
    expect(JSON.parse(json.stdout).unflushed).toBe(1);
  } finally {
    await leave();
  }
});
