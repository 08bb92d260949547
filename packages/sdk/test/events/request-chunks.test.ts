/** publishMany's split into produce requests: in order, under the byte budget, a lone big event alone. */
import { requestChunks } from '../../src/events/publisher';

const event = (n: number, bytes: number) => ({
  n,
  message: { key: `k${n}`, value: Buffer.alloc(bytes), headers: { h: 'v' } },
});

test('events are split in order into requests under the budget', () => {
  const events = Array.from({ length: 100 }, (_, i) => event(i, 1000));
  const chunks = requestChunks(events, 10_000);
  expect(chunks.flat().map((e) => e.n)).toEqual(events.map((e) => e.n));
  expect(chunks.length).toBeGreaterThan(9);
  for (const chunk of chunks) {
    const bytes = chunk.reduce((n, e) => n + e.message.value.length + 64 + 3 + 2, 0);
    expect(bytes).toBeLessThanOrEqual(10_000);
  }
});

test('an event bigger than the budget goes alone; small batches stay one request', () => {
  const chunks = requestChunks([event(1, 10), event(2, 50_000), event(3, 10)], 10_000);
  expect(chunks.map((c) => c.map((e) => e.n))).toEqual([[1], [2], [3]]);
  expect(requestChunks([event(1, 10), event(2, 10)], 10_000)).toHaveLength(1);
  expect(requestChunks([], 10_000)).toEqual([]);
});
