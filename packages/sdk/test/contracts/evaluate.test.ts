import { type Expr, evaluate, Histogram, parseContractRef } from '@accord/sdk';

const available: Expr = {
  all: [{ gt: [{ sub: [{ var: 'on_hand' }, { var: 'reserved' }] }, 0] }, { not: { var: 'blocked' } }],
};

test('contract expressions: comparisons, arithmetic, all/any/not, missing variables', () => {
  expect(evaluate(available, { on_hand: 5, reserved: 2, blocked: false })).toBe(true);
  expect(evaluate(available, { on_hand: 2, reserved: 2, blocked: false })).toBe(false);
  expect(evaluate(available, { on_hand: 5, reserved: 2, blocked: true })).toBe(false);
  // A missing or non-numeric operand: arithmetic gives null, comparisons false (as accord_eval() in SQL).
  expect(evaluate({ add: [{ var: 'x' }, 1] }, {})).toBeNull();
  expect(evaluate({ gte: [{ var: 'x' }, 1] }, { x: '3' })).toBe(false);
  expect(evaluate({ eq: [{ var: 'tier' }, 'gold'] }, { tier: 'gold' })).toBe(true);
  expect(evaluate({ any: [false, { lte: [1, 1] }] }, {})).toBe(true);
  expect(() => evaluate({ pow: [2, 3] }, {})).toThrow(/unknown contract operator "pow"/);
});

test('contract references name a version', () => {
  expect(parseContractRef('available_item@2')).toEqual({ name: 'available_item', version: 2 });
  expect(() => parseContractRef('available_item')).toThrow(/available_item/);
});

test('the histogram reports exact percentiles up to its capacity, and nothing when empty', () => {
  const h = new Histogram('h');
  expect(h.summary()).toEqual({ count: 0 });
  for (let v = 1; v <= 100; v++) h.record(v);
  h.record(Number.NaN); // ignored
  expect(h.summary()).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  const small = new Histogram('small', 10);
  for (let v = 0; v < 1000; v++) small.record(v);
  expect(small.count).toBe(1000);
  expect(small.percentile(100)).toBeLessThan(1000);
});
