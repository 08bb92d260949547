import { applyCommands, bucketsAt, defineFeatureView, type PipelineEvent } from '@accord/sdk';

const base = { name: 'x', version: 1, entityType: 'customer', topics: ['t'], aggregation: 'count' as const };

test('views are validated at definition, naming the view and the field', () => {
  expect(() => defineFeatureView({ ...base, name: 'Bad Name' })).toThrow(
    /feature view "Bad Name": name must match/,
  );
  expect(() => defineFeatureView({ ...base, aggregation: 'sum' })).toThrow(
    /aggregation sum needs a value function/,
  );
  expect(() =>
    defineFeatureView({ ...base, window: { kind: 'sliding', sizeSeconds: 60, buckets: 7 } }),
  ).toThrow(/window.buckets must divide/);
  expect(() => defineFeatureView({ ...base, aggregation: 'median' as never })).toThrow(
    /aggregation must be one of count, sum, avg, min, max, last, distinct/,
  );
  expect(defineFeatureView(base).name).toBe('x');
});

test('bucketsAt covers the current window: one bucket when tumbling, n when sliding', () => {
  const sliding = defineFeatureView({ ...base, window: { kind: 'sliding', sizeSeconds: 60, buckets: 6 } });
  expect(bucketsAt(sliding, 125_000)).toEqual([120_000, 110_000, 100_000, 90_000, 80_000, 70_000]);
  const tumbling = defineFeatureView({ ...base, window: { kind: 'tumbling', sizeSeconds: 60 } });
  expect(bucketsAt(tumbling, 125_000)).toEqual([120_000]);
});

test('applyCommands groups an event’s effects per entity and skips what does not apply', () => {
  const event = {
    topic: 't',
    partition: 2,
    offset: '41',
    key: 'o-1',
    timestamp: '1000',
    headers: {},
    raw: null,
    schemaName: 'accord.commerce.OrderPlaced',
    value: { envelope: { entityId: 'o-1', occurredAt: 5000 }, customerId: 'c-9', totalCents: 1250 },
  } as PipelineEvent;
  const views = [
    defineFeatureView({ ...base, name: 'orders', entityId: (e) => e.value?.customerId as string }),
    defineFeatureView({
      ...base,
      name: 'ltv',
      aggregation: 'sum',
      value: (e) => e.value?.totalCents as number,
      entityId: (e) => e.value?.customerId as string,
      ttlSeconds: 60,
    }),
    defineFeatureView({ ...base, name: 'other', eventTypes: ['accord.commerce.OrderShipped'] }),
    defineFeatureView({ ...base, name: 'old', window: { kind: 'tumbling', sizeSeconds: 1 } }),
  ];
  const commands = applyCommands(views, event, 'p:', 1_000_000, { logId: 'L1' });
  expect(commands).toHaveLength(1);
  expect(commands[0]?.keys).toEqual([
    'p:feat:{customer:c-9}:offsets',
    'p:feat:{customer:c-9}:orders@1',
    'p:feat:{customer:c-9}:orders@1:set',
    'p:feat:{customer:c-9}:ltv@1',
    'p:feat:{customer:c-9}:ltv@1:set',
    // Each view's marker last: the apply writes nothing without them (Redis lost its data).
    'p:accord:features:epoch:orders@1',
    'p:accord:features:epoch:ltv@1',
  ]);
  expect(commands[0]?.args[0]).toBe('41');
  expect(commands[0]?.args[1]).toBe(1_000_000);
  expect(commands[0]?.args[3]).toBe(''); // not a replay
  // Each view version keeps its own watermark per topic-partition, within one log (L1).
  expect(JSON.parse(String(commands[0]?.args[2]))).toEqual([
    { f: 'orders@1:t@L1:2', e: 'p:accord:features:epoch:orders@1', a: 'count', t: 5000 },
    { f: 'ltv@1:t@L1:2', e: 'p:accord:features:epoch:ltv@1', a: 'sum', v: '1250', t: 5000, l: 60000 },
  ]);
  expect(applyCommands(views, event, 'p:', 1_000_000, { logId: 'L1', replayId: 17 })[0]?.args[3]).toBe('17');
});
