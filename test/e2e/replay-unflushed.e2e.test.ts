/**
 * `accord replay` of a group with a member that is not an Accord pipeline (a plain kafkajs consumer): the
 * member cannot write the positions it holds in memory when asked, and the operator is told so, with how
 * many, instead of the plan passing over it.
 */
import { join } from 'node:path';
import { createPgPool, resolveConfig } from '@accord/sdk';
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
  await pool.query(
    `insert into pipeline_checkpoints (pipeline_name, consumer_group, topic, partition, checkpoint_value, kafka_offset, generation)
     values ($1, $1, $2, 0, '0', 0, 1)`,
    [group, topic],
  );
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
