import { GroupCommit } from '../../src/infra/group-commit';

/** A batch sender whose batches finish when the test says. */
function controlled() {
  const batches: { items: number[]; finish: (results?: string[]) => void; fail: (e: Error) => void }[] = [];
  const send = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({
        items,
        finish: (results) => resolve(results ?? items.map((n) => `r${n}`)),
        fail: reject,
      });
    });
  return { batches, send };
}

const settled = () => new Promise((r) => setImmediate(r));

test('an idle queue sends at once; what is submitted while a batch is out leaves together in the next, each with its own result', async () => {
  const { batches, send } = controlled();
  const q = new GroupCommit(send, 500);
  const first = q.submit(1);
  expect(batches.map((b) => b.items)).toEqual([[1]]);
  const rest = [2, 3, 4].map((n) => q.submit(n));
  await settled();
  expect(batches.length).toBe(1); // nothing more leaves while the first is out
  batches[0]?.finish();
  await expect(first).resolves.toBe('r1');
  await settled();
  expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
  batches[1]?.finish(['a', 'b', 'c']);
  await expect(Promise.all(rest)).resolves.toEqual(['a', 'b', 'c']);
});

test('a failed batch fails its own submissions only; the queue goes on', async () => {
  const { batches, send } = controlled();
  const q = new GroupCommit(send, 500);
  const a = q.submit(1);
  const b = q.submit(2);
  batches[0]?.fail(new Error('refused'));
  await expect(a).rejects.toThrow('refused');
  await settled();
  batches[1]?.finish();
  await expect(b).resolves.toBe('r2');
  const c = q.submit(3);
  expect(batches.map((x) => x.items)).toEqual([[1], [2], [3]]);
  batches[2]?.finish();
  await expect(c).resolves.toBe('r3');
});

test('a burst larger than maxItems leaves in batches of at most maxItems, in order', async () => {
  const { batches, send } = controlled();
  const q = new GroupCommit(send, 2);
  const all = [1, 2, 3, 4, 5, 6].map((n) => q.submit(n));
  for (let i = 0; i < 4; i++) {
    await settled();
    batches[i]?.finish();
  }
  await expect(Promise.all(all)).resolves.toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  expect(batches.map((b) => b.items)).toEqual([[1], [2, 3], [4, 5], [6]]);
});
