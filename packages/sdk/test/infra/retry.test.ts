import { AccordError } from '../../src/errors';
import { isTransient, withRetry } from '../../src/infra/retry';

test('transient: retriable Accord errors and retriable Kafka errors, nothing else', () => {
  expect(isTransient(new AccordError('KAFKA_UNAVAILABLE', 'x', { retriable: true }))).toBe(true);
  expect(isTransient(new AccordError('CONFIG_INVALID', 'x'))).toBe(false);
  expect(isTransient(Object.assign(new Error('not the leader'), { retriable: true }))).toBe(true);
  expect(isTransient(new TypeError('bug'))).toBe(false);
});

test('retries transient failures with doubling waits, then succeeds', async () => {
  const waits: number[] = [];
  let calls = 0;
  const value = await withRetry(
    async () => {
      if (++calls < 3) throw Object.assign(new Error('not yet'), { retriable: true });
      return 'ok';
    },
    { initialMs: 1, onRetry: (_e, _a, wait) => waits.push(wait) },
  );
  expect(value).toBe('ok');
  expect(calls).toBe(3);
  expect(waits).toEqual([1, 2]);
});

test('a permanent failure is thrown at once; a transient one after the last attempt', async () => {
  let calls = 0;
  const bug = new TypeError('bug');
  await expect(
    withRetry(async () => {
      calls++;
      throw bug;
    }),
  ).rejects.toBe(bug);
  expect(calls).toBe(1);
  calls = 0;
  const busy = Object.assign(new Error('busy'), { retriable: true });
  await expect(
    withRetry(
      async () => {
        calls++;
        throw busy;
      },
      { attempts: 4, initialMs: 1 },
    ),
  ).rejects.toBe(busy);
  expect(calls).toBe(4);
});
