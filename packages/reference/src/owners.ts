import type { DecideContext, Verdict } from '@accord/sdk';
import { REFERENCE_PRIORITY } from './rules';

/**
 * The reference owners' business rules: one decide function per entity type, plain code over the
 * proposal and the entity's current state. The owner runtime has already refused duplicates and stale
 * versions (or let an outranking agent through) before these run.
 */
type Decide = (ctx: Pick<DecideContext, 'proposal' | 'current'>) => Verdict;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const reject = (reason: string): Verdict => ({ outcome: 'REJECTED', reason });
const accept = (state: Record<string, unknown>, reason?: string): Verdict => ({
  outcome: 'ACCEPTED',
  state,
  ...(reason ? { reason } : {}),
});

/** The largest discount an agent may grant on its own; up to the escalation limit a person decides. */
export const DISCOUNT_LIMIT_PERCENT = 30;
export const DISCOUNT_ESCALATION_PERCENT = 50;

export const decideOrder: Decide = ({ proposal, current }) => {
  const state = current.state;
  const { action, change } = proposal;
  switch (action) {
    case 'place':
      if (current.version > 0) return reject('the order exists already');
      return accept({ ...change, status: 'placed' });
    case 'discount': {
      const percent = num(change.discountPercent);
      if (percent === undefined || percent < 0) return reject('discountPercent must be a number >= 0');
      if (state.status === 'shipped') return reject('the order has shipped: no discount after shipping');
      if (state.blocked === true) return reject(`the order is blocked (${String(state.blockReason)})`);
      if (percent > DISCOUNT_ESCALATION_PERCENT)
        return reject(`a ${percent}% discount is above ${DISCOUNT_ESCALATION_PERCENT}%`);
      if (percent > DISCOUNT_LIMIT_PERCENT)
        return {
          outcome: 'ESCALATED',
          reason: `a ${percent}% discount is above the ${DISCOUNT_LIMIT_PERCENT}% agents may grant`,
        };
      return accept({ ...state, discountPercent: percent });
    }
    case 'ship':
      if (state.blocked === true)
        return reject(`the order is blocked (${String(state.blockReason)}): not shipped`);
      if (state.status === 'shipped') return reject('the order has shipped already');
      return accept({ ...state, ...change, status: 'shipped' });
    case 'block':
      if (state.status === 'shipped')
        return { outcome: 'ESCALATED', reason: 'blocking a shipped order needs a recall: a person decides' };
      return accept({ ...state, blocked: true, blockReason: change.reason ?? proposal.reason ?? 'risk' });
    case 'unblock':
      return accept({ ...state, blocked: false, blockReason: null });
    default:
      return reject(`unknown order action "${action}"`);
  }
};

export const decidePayment: Decide = ({ proposal, current }) => {
  const state = current.state;
  const captured = num(state.capturedCents) ?? 0;
  const refunded = num(state.refundedCents) ?? 0;
  switch (proposal.action) {
    case 'capture': {
      const amount = num(proposal.change.amountCents);
      if (amount === undefined || amount <= 0) return reject('amountCents must be a positive number');
      return accept({ ...state, capturedCents: captured + amount });
    }
    case 'refund': {
      const amount = num(proposal.change.amountCents);
      if (amount === undefined || amount <= 0) return reject('amountCents must be a positive number');
      if (refunded + amount > captured)
        return reject(`a refund of ${amount} exceeds what is left to refund (${captured - refunded})`);
      return accept({ ...state, refundedCents: refunded + amount });
    }
    default:
      return reject(`unknown payment action "${proposal.action}"`);
  }
};

export const decideStockItem: Decide = ({ proposal, current }) => {
  const state = current.state;
  const onHand = num(state.onHand) ?? 0;
  const reserved = num(state.reserved) ?? 0;
  const quantity = num(proposal.change.quantity);
  switch (proposal.action) {
    case 'reserve':
      if (quantity === undefined || quantity <= 0) return reject('quantity must be a positive number');
      if (reserved + quantity > onHand)
        return reject(`only ${onHand - reserved} available, ${quantity} asked`);
      return accept({ ...state, reserved: reserved + quantity });
    case 'adjust':
      if (quantity === undefined || quantity < 0)
        return reject('quantity (the new on-hand count) must be >= 0');
      if (quantity < reserved) return reject(`${reserved} are reserved: on hand cannot go below that`);
      return accept({ ...state, onHand: quantity });
    default:
      return reject(`unknown stock item action "${proposal.action}"`);
  }
};

export const decideCustomer: Decide = ({ proposal, current }) => {
  switch (proposal.action) {
    case 'register':
      if (current.version > 0) return reject('the customer exists already');
      return accept({ ...proposal.change });
    case 'flag_risk': {
      const score = num(proposal.change.riskScore);
      if (score === undefined || score < 0 || score > 1) return reject('riskScore must be between 0 and 1');
      return accept({ ...current.state, riskScore: score });
    }
    default:
      return reject(`unknown customer action "${proposal.action}"`);
  }
};

/** The reference owners: what `defineOwner` (or `accord.owner`) needs besides its context, per entity type. */
export const REFERENCE_OWNERS = {
  order: { entityType: 'order', decide: decideOrder, priority: REFERENCE_PRIORITY },
  payment: { entityType: 'payment', decide: decidePayment, priority: REFERENCE_PRIORITY },
  stock_item: { entityType: 'stock_item', decide: decideStockItem, priority: REFERENCE_PRIORITY },
  customer: { entityType: 'customer', decide: decideCustomer, priority: REFERENCE_PRIORITY },
} as const;
