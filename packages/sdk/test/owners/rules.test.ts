import { commutes, outranks } from '@accord/sdk';

const order = ['risk', 'fulfillment', 'pricing', 'support'];

test('outranks follows the order given, highest first; agents not listed rank below every listed one', () => {
  expect(outranks('risk', 'pricing', order)).toBe(true);
  expect(outranks('support', 'fulfillment', order)).toBe(false);
  expect(outranks('pricing', 'pricing', order)).toBe(false);
  expect(outranks('support', 'newcomer', order)).toBe(true);
  expect(outranks('newcomer', 'other', order)).toBe(false);
  expect(outranks('support', 'risk', ['support', 'risk'])).toBe(true); // a domain's own order
});

test('changes commute when they touch disjoint top-level fields', () => {
  expect(commutes({ discount: 10 }, ['status'])).toBe(true);
  expect(commutes({ discount: 10, status: 'x' }, new Set(['status']))).toBe(false);
  expect(commutes({}, ['anything'])).toBe(true);
});
