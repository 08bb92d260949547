import { decideCustomer, decideOrder, decidePayment, decideStockItem } from '@accord/reference';
import type { Proposal } from '@accord/sdk';

const proposal = (action: string, change: Record<string, unknown>): Proposal => ({
  proposalId: 'p',
  entityType: 'x',
  entityId: 'e',
  agent: 'pricing',
  action,
  change,
  expectedVersion: null,
  idempotencyKey: 'k',
  reason: null,
  context: null,
  proposedAt: 0,
});
const at = (version: number, state: Record<string, unknown>) => ({ version, state });

test('orders: discounts up to 30% are granted, up to 50% escalated to a person, above refused', () => {
  const placed = at(1, { status: 'placed' });
  expect(decideOrder({ proposal: proposal('discount', { discountPercent: 30 }), current: placed })).toEqual({
    outcome: 'ACCEPTED',
    state: { status: 'placed', discountPercent: 30 },
  });
  expect(decideOrder({ proposal: proposal('discount', { discountPercent: 40 }), current: placed })).toEqual({
    outcome: 'ESCALATED',
    reason: 'a 40% discount is above the 30% agents may grant',
  });
  expect(
    decideOrder({ proposal: proposal('discount', { discountPercent: 60 }), current: placed }),
  ).toMatchObject({
    outcome: 'REJECTED',
  });
  expect(
    decideOrder({
      proposal: proposal('discount', { discountPercent: 5 }),
      current: at(2, { status: 'shipped' }),
    }),
  ).toEqual({ outcome: 'REJECTED', reason: 'the order has shipped: no discount after shipping' });
});

test('orders: a blocked order does not ship; blocking a shipped one is a recall, escalated', () => {
  const blocked = decideOrder({
    proposal: proposal('block', { reason: 'fraud' }),
    current: at(1, { status: 'placed' }),
  });
  expect(blocked).toEqual({
    outcome: 'ACCEPTED',
    state: { status: 'placed', blocked: true, blockReason: 'fraud' },
  });
  const state = (blocked as { state: Record<string, unknown> }).state;
  expect(decideOrder({ proposal: proposal('ship', {}), current: at(2, state) })).toEqual({
    outcome: 'REJECTED',
    reason: 'the order is blocked (fraud): not shipped',
  });
  expect(
    decideOrder({ proposal: proposal('block', {}), current: at(3, { status: 'shipped' }) }),
  ).toMatchObject({
    outcome: 'ESCALATED',
  });
  expect(decideOrder({ proposal: proposal('teleport', {}), current: at(1, {}) })).toEqual({
    outcome: 'REJECTED',
    reason: 'unknown order action "teleport"',
  });
});

test('payments refund no more than was captured; stock reserves no more than is available', () => {
  const paid = at(1, { capturedCents: 1000, refundedCents: 300 });
  expect(decidePayment({ proposal: proposal('refund', { amountCents: 700 }), current: paid })).toMatchObject({
    outcome: 'ACCEPTED',
    state: { refundedCents: 1000 },
  });
  expect(decidePayment({ proposal: proposal('refund', { amountCents: 701 }), current: paid })).toEqual({
    outcome: 'REJECTED',
    reason: 'a refund of 701 exceeds what is left to refund (700)',
  });
  const stock = at(1, { onHand: 10, reserved: 8 });
  expect(decideStockItem({ proposal: proposal('reserve', { quantity: 2 }), current: stock })).toMatchObject({
    outcome: 'ACCEPTED',
    state: { reserved: 10 },
  });
  expect(decideStockItem({ proposal: proposal('reserve', { quantity: 3 }), current: stock })).toEqual({
    outcome: 'REJECTED',
    reason: 'only 2 available, 3 asked',
  });
  expect(decideStockItem({ proposal: proposal('adjust', { quantity: 7 }), current: stock })).toMatchObject({
    outcome: 'REJECTED',
  });
  expect(decideCustomer({ proposal: proposal('flag_risk', { riskScore: 1.5 }), current: at(1, {}) })).toEqual(
    {
      outcome: 'REJECTED',
      reason: 'riskScore must be between 0 and 1',
    },
  );
});

test('orders: an order risk blocked first is still placed, blocked; no discount once out of stock', async () => {
  expect(
    await decideOrder({ proposal: proposal('place', { orderId: 'o' }), current: at(1, { blocked: true }) }),
  ).toEqual({ outcome: 'ACCEPTED', state: { blocked: true, orderId: 'o', status: 'placed' } });
  expect(
    await decideOrder({ proposal: proposal('place', {}), current: at(1, { status: 'placed' }) }),
  ).toEqual({
    outcome: 'REJECTED',
    reason: 'the order exists already',
  });
  const out = at(2, { status: 'placed' });
  expect(await decideOrder({ proposal: proposal('mark_out_of_stock', { sku: 's' }), current: out })).toEqual({
    outcome: 'ACCEPTED',
    state: { status: 'out_of_stock', discountPercent: 0 },
    reason: 'an item is out of stock',
  });
  expect(
    await decideOrder({
      proposal: proposal('discount', { discountPercent: 5 }),
      current: at(3, { status: 'out_of_stock' }),
    }),
  ).toEqual({ outcome: 'REJECTED', reason: 'the order is out of stock: no discount on it' });
});

test('orders: a refund promise, and its withdrawal as the compensation of the promise decision', async () => {
  expect(
    await decideOrder({
      proposal: proposal('promise_refund', { amountCents: 500 }),
      current: at(2, { status: 'shipped' }),
    }),
  ).toEqual({ outcome: 'ACCEPTED', state: { status: 'shipped', refundPromisedCents: 500 } });
  expect(
    await decideOrder({
      proposal: proposal('withdraw_refund_promise', {
        amountCents: 500,
        compensates: 'd-1',
        reason: 'billing refused',
      }),
      current: at(3, { refundPromisedCents: 500 }),
    }),
  ).toEqual({
    outcome: 'ACCEPTED',
    state: { refundPromisedCents: 0, refundWithdrawnCents: 500 },
    compensates: 'd-1',
    reason: 'billing refused',
  });
  expect(
    await decideOrder({
      proposal: proposal('withdraw_refund_promise', { amountCents: 5 }),
      current: at(1, {}),
    }),
  ).toEqual({ outcome: 'REJECTED', reason: 'compensates must name the promise decision' });
  expect(
    decideCustomer({
      proposal: proposal('recommend', { recommendation: 'premium' }),
      current: at(1, { a: 1 }),
    }),
  ).toEqual({
    outcome: 'ACCEPTED',
    state: { a: 1, recommendation: 'premium' },
  });
});
