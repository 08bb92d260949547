/** KeyedRunner (option keyConcurrency): concurrent across keys, in order within one, bounded, fails whole. */
import { KeyedRunner } from '../../src/pipelines/keyed';

/** A task that ends when released, recording when it started and ended. */
function gate(log: string[], name: string) {
  let release: () => void = () => {};
  const done = new Promise<void>((r) => {
    release = r;
  });
  return {
    release: () => release(),
    task: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
    },
  };
}

test('keys run at once, one key in order, never more than the limit', async () => {
  const log: string[] = [];
  const runner = new KeyedRunner(2);
  const a1 = gate(log, 'a1');
  const a2 = gate(log, 'a2');
  const b1 = gate(log, 'b1');
  const c1 = gate(log, 'c1');
  await runner.add('a', a1.task);
  await runner.add('a', a2.task);
  // Two tasks are running or queued (a1, a2 behind it): the limit holds the third until one ends.
  const third = runner.add('b', b1.task);
  await new Promise((r) => setImmediate(r));
  expect(log).toEqual(['start a1']); // a2 waits for a1; b1 waits for room
  a1.release();
  await third;
  await new Promise((r) => setImmediate(r));
  expect(log).toEqual(['start a1', 'end a1', 'start a2', 'start b1']);
  const fourth = runner.add('c', c1.task); // no room until a2 or b1 ends
  await new Promise((r) => setImmediate(r));
  expect(log).not.toContain('start c1');
  b1.release();
  await fourth;
  await new Promise((r) => setImmediate(r));
  expect(log.slice(4)).toEqual(['end b1', 'start c1']);
  a2.release();
  c1.release();
  await runner.drain();
  expect(log).toContain('end c1');
});

test('a failure stops its key and new tasks, and drain throws it once every started task ended', async () => {
  const log: string[] = [];
  const runner = new KeyedRunner(4);
  const b = gate(log, 'b1');
  await runner.add('a', async () => {
    throw new Error('a1 failed');
  });
  await runner.add('a', async () => {
    log.push('a2 ran'); // must not: its key failed before it
  });
  await runner.add('b', b.task);
  await new Promise((r) => setImmediate(r));
  await expect(runner.add('c', async () => void log.push('c1 ran'))).rejects.toThrow('a1 failed');
  const drained = runner.drain();
  let settled = false;
  drained.catch(() => {}).finally(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  expect(settled).toBe(false); // b1 still running
  b.release();
  await expect(drained).rejects.toThrow('a1 failed');
  expect(log).toEqual(['start b1', 'end b1']);
  await expect(runner.drain()).resolves.toBeUndefined(); // thrown once
});
