/**
 * Dead letters handled from the CLI (list, replay to the failing group only, discard), lag flagging stuck
 * partitions, and the pipeline commands' usage errors.
 */
import { CheckpointStore, createPipeline, TerminalError } from '@accord/sdk';
import { eventually, uniqueName } from '@accord/testing';
import { cli, ctx, pipelines, pool, publish, scoped } from './pipelines/kit';

jest.setTimeout(300000);

test('dead letters from the CLI: list, replay to the failing group only, discard; lag flags stuck partitions', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = ctx.group();
  const bystander = ctx.group();
  await publish(topic, 5);
  let poisoned = true;
  const handled: number[] = [];
  const p = createPipeline({
    name: group,
    topics: [topic],
    config: scoped,
    pool,
    handler: (e) => {
      const n = e.value?.percent as number;
      if (poisoned && (n === 2 || n === 3)) throw new TerminalError(`cannot handle ${n}`);
      handled.push(n);
    },
  });
  const otherSeen: number[] = [];
  const other = createPipeline({
    name: bystander,
    topics: [topic],
    config: scoped,
    pool,
    handler: (e) => void otherSeen.push(e.value?.percent as number),
  });
  pipelines.push(p, other);
  await p.start();
  await other.start();
  await eventually(() => handled.length === 3 && p.stats.deadLettered === 2 && otherSeen.length === 5, {
    what: 'first pass',
  });

  const list = await cli(['dlq', 'list', group, '--json']);
  expect(list.code).toBe(0);
  const letters = JSON.parse(list.stdout) as {
    dlqOffset: string;
    letter: { offset: number; errorMessage: string };
    action: null;
  }[];
  expect(letters.map((l) => [l.dlqOffset, l.letter.offset, l.action])).toEqual([
    ['0', 2, null],
    ['1', 3, null],
  ]);
  expect(letters[0]?.letter.errorMessage).toBe('cannot handle 2');

  poisoned = false; // the bug is fixed
  const replay = await cli(['dlq', 'replay', group, '--offset', '0']);
  expect(replay.stdout).toBe(`replayed 1 dead letter(s) of ${group}\n`);
  await eventually(() => handled.includes(2), { what: 'the replayed dead letter' });
  const discard = await cli(['dlq', 'discard', group, '--all']);
  expect(discard.stdout).toBe(`discarded 1 dead letter(s) of ${group}\n`);
  const after = await cli(['dlq', 'list', group]);
  expect(after.stdout).toMatch(/\(2 dead letter\(s\) for .*; 0 open\)/);
  // The bystander saw the re-sent record's offset but did not process it again.
  await eventually(async () => (await new CheckpointStore(pool).list(bystander))[0]?.kafkaOffset === '6', {
    what: 'bystander past the re-sent record',
  });
  expect(otherSeen).toHaveLength(5);

  await p.stop();
  await publish(topic, 2);
  const lag = await cli(['lag', group, '--stuck-after', '0', '--json']);
  expect(lag.code).toBe(1);
  expect(JSON.parse(lag.stdout)[0]).toMatchObject({ group, lag: 2, stuck: true });
  expect(lag.stderr).toMatch(/1 partition\(s\) need attention: \S+ \S+\[0\] STUCK/);
  const fine = await cli(['lag', group, '--stuck-after', '3600']);
  expect(fine.code).toBe(0);
  expect(fine.stdout).toMatch(/\s2\s+\d+s ago\s+behind$/m);
});

test('pipelines CLI usage errors name what is wrong', async () => {
  expect((await cli(['replay', 'g'])).stderr).toMatch(
    /give exactly one of --to-time <ISO>, --to-offset <n>, --to-earliest/,
  );
  expect((await cli(['replay', 'g', '--to-offset=abc'])).stderr).toMatch(
    /--to-offset must be a non-negative integer, got "abc"/,
  );
  expect((await cli(['replay', uniqueName('nobody'), '--to-earliest'])).stderr).toMatch(
    /has no checkpoints: nothing to replay/,
  );
  expect((await cli(['consumers', 'add', 'g', '--topic', uniqueName('none')])).stderr).toMatch(
    /topic ".*" does not exist/,
  );
  expect((await cli(['dlq', 'replay', 'g'])).stderr).toMatch(/give --offset <n> \(repeatable\) or --all/);
});
