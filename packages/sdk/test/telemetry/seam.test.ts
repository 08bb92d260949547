import { type Interceptor, intercept, type LifecycleEvent, Telemetry } from '../../src/telemetry/seam';

const incident = { type: 'fenced', pipeline: 'p', group: 'g', topic: 't', partition: 0, epoch: 3 } as const;

test('emit tells every listener, and a listener that throws breaks neither the others nor the caller', () => {
  const seen: LifecycleEvent[] = [];
  const errors: unknown[] = [];
  const t = new Telemetry((e) => errors.push(e));
  expect(t.listening).toBe(false);
  t.on(() => {
    throw new Error('broken listener');
  });
  const stop = t.on((e) => seen.push(e));
  expect(() => t.emit(incident)).not.toThrow();
  expect(seen).toEqual([incident]);
  expect(errors).toEqual([new Error('broken listener')]);
  stop();
  t.emit(incident);
  expect(seen).toHaveLength(1);
});

test('interceptors run outermost first around the handler, once', async () => {
  const order: string[] = [];
  const wrap =
    (name: string): Interceptor<{ id: number }> =>
    async (_ctx, next) => {
      order.push(`${name}:before`);
      await next();
      await next(); // a second call does not run the handler again
      order.push(`${name}:after`);
    };
  await intercept([wrap('a'), wrap('b')], { id: 1 }, async () => {
    order.push('handler');
  });
  expect(order).toEqual(['a:before', 'b:before', 'handler', 'b:after', 'a:after']);
});

test("the handler's error reaches the caller unchanged; an interceptor's own failure never does", async () => {
  const business = new Error('business');
  const swallowing: Interceptor<object> = async (_c, next) => {
    await next().catch(() => {}); // tries to hide the business error
  };
  await expect(intercept([swallowing], {}, () => Promise.reject(business))).rejects.toBe(business);

  const failsBefore: Interceptor<object> = async () => {
    throw new Error('interceptor broke before next');
  };
  const failsAfter: Interceptor<object> = async (_c, next) => {
    await next();
    throw new Error('interceptor broke after next');
  };
  const forgets: Interceptor<object> = async () => {};
  let ran = 0;
  await intercept([failsBefore, failsAfter, forgets], {}, async () => {
    ran++;
  });
  expect(ran).toBe(1);
  const replaced: Interceptor<object> = async (_c, next) => {
    await next().catch(() => {
      throw new Error('replacement');
    });
  };
  await expect(intercept([replaced], {}, () => Promise.reject(business))).rejects.toBe(business);
});
