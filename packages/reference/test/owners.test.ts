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
