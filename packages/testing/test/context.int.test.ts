import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(30000);

test('uniqueName never repeats and uses the separator', () => {
  const names = new Set(Array.from({ length: 1000 }, () => uniqueName('t_x', '_')));
  expect(names.size).toBe(1000);
  for (const name of names) expect(name).toMatch(/^t_x_[a-z0-9]+$/);
});

test('a context creates a unique topic, schema and Redis prefix, and cleanup removes them all', async () => {
  const ctx = new TestContext();
  const observer = new TestContext();
  try {
    const topic = await ctx.createTopic({ partitions: 2 });
    const schema = await ctx.createSchema();
    const prefix = ctx.redisPrefix();
    const group = ctx.group();
    expect(group).toMatch(/^t-group-/);

    const admin = await observer.kafkaAdmin();
    expect(await admin.listTopics()).toContain(topic);
    const pg = observer.pg();
    expect((await pg.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount).toBe(1);
    const redis = ctx.redis();
    await redis.connect();
    await redis.set(`${prefix}a`, '1');
    await redis.set(`${prefix}b`, '2');

    await ctx.cleanup();

    await eventually(async () => !(await admin.listTopics()).includes(topic), {
      what: `topic ${topic} deleted`,
    });
    expect((await pg.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount).toBe(0);
    const check = observer.redis();
    await check.connect();
    expect(await check.keys(`${prefix}*`)).toEqual([]);
  } finally {
    await ctx.cleanup().catch(() => {});
    await observer.cleanup();
  }
});

test('eventually returns the first truthy value and fails with what it waited for', async () => {
  let calls = 0;
  await expect(eventually(() => (++calls >= 3 ? calls : false), { intervalMs: 1 })).resolves.toBe(3);
  await expect(eventually(() => false, { timeoutMs: 20, intervalMs: 5, what: 'the moon' })).rejects.toThrow(
    /timed out after 20ms waiting for the moon/,
  );
});
