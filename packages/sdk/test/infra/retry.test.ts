import { AccordError } from '../../src/errors';
import { backoffMs, isTransient, pollUntil, withRetry } from '../../src/infra/retry';

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

test('backoff doubles from the first wait and stops at the cap', () => {
  expect([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 200, 5000))).toEqual([200, 400, 800, 1600, 3200, 5000]);
});

test('pollUntil returns the first defined value, or undefined once the time is up', async () => {
  let calls = 0;
  await expect(
    pollUntil(() => (++calls === 3 ? 'ready' : undefined), { timeoutMs: 5000, intervalMs: 1 }),
  ).resolves.toBe('ready');
  expect(calls).toBe(3);
  // false and 0 are values: only undefined means "not yet".
  await expect(pollUntil(() => 0, { timeoutMs: 10 })).resolves.toBe(0);
  let probes = 0;
  await expect(
    pollUntil(
      () => {
        probes++;
        return undefined;
      },
      { timeoutMs: 30, intervalMs: 5 },
    ),
  ).resolves.toBeUndefined();
  expect(probes).toBeGreaterThan(1);
});
