import type { DecideContext, Verdict } from '@accord/sdk';
import { REFERENCE_PRIORITY } from './rules';

/**
 * The reference owners' business rules: one decide function per entity type, plain code over the
 * proposal and the entity's current state. The owner runtime has already refused duplicates and stale
 * versions (or let an outranking agent through) before these run.
 */
type Decide = (ctx: Pick<DecideContext, 'proposal' | 'current'>) => Verdict;
/** A rule that reads the owner's own audit (in its transaction) for some actions. */
type DecideWithAudit = (
  ctx: Pick<DecideContext, 'proposal' | 'current'> & Partial<Pick<DecideContext, 'tx'>>,
) => Verdict | Promise<Verdict>;

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

/** The order's latest accepted discount decision (what a stock-out compensates), read in the owner's transaction. */
async function discountDecision(
  tx: DecideContext['tx'] | undefined,
  orderId: string,
): Promise<string | undefined> {
  if (!tx) return undefined;
  const { rows } = await tx.query<{ decision_id: string }>(
    `select decision_id from order_decisions where entity_id = $1 and action = 'discount' and outcome = 'ACCEPTED'
      order by decided_at desc limit 1`,
    [orderId],
  );
  return rows[0]?.decision_id;
}

export const decideOrder: DecideWithAudit = ({ proposal, current, tx }) => {
  const state = current.state;
  const { action, change } = proposal;
  switch (action) {
    case 'place':
      // An order another agent acted on first (risk may block it before it is placed) is still placed,
      // keeping what was decided on it.
      if (state.status !== undefined) return reject('the order exists already');
      return accept({ ...state, ...change, status: 'placed' });
    case 'discount': {
      const percent = num(change.discountPercent);
      if (percent === undefined || percent < 0) return reject('discountPercent must be a number >= 0');
      if (state.status === 'shipped') return reject('the order has shipped: no discount after shipping');
      if (state.status === 'out_of_stock') return reject('the order is out of stock: no discount on it');
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
    case 'mark_out_of_stock': {
      if (state.status === 'shipped') return reject('the order has shipped already');
      const discounted = (num(state.discountPercent) ?? 0) > 0;
      const next = { ...state, status: 'out_of_stock', discountPercent: 0 };
      if (!discounted) return accept(next, 'an item is out of stock');
      // A discount was granted on items that turn out to be unavailable: withdrawn in the same decision,
      // as a compensation of the discount's decision (audited, counted as a rollback).
      return discountDecision(tx, proposal.entityId).then((compensates) =>
        compensates
          ? {
              outcome: 'ACCEPTED',
              state: next,
              compensates,
              reason: 'out of stock: the discount is withdrawn',
            }
          : accept(next, 'an item is out of stock'),
      );
    }
    case 'promise_refund': {
      const amount = num(change.amountCents);
      if (amount === undefined || amount <= 0) return reject('amountCents must be a positive number');
      return accept({ ...state, refundPromisedCents: (num(state.refundPromisedCents) ?? 0) + amount });
    }
    case 'withdraw_refund_promise': {
      // The compensation of a promise billing could not honour: names the promise's decision.
      const amount = num(change.amountCents);
      if (amount === undefined || amount <= 0) return reject('amountCents must be a positive number');
      if (typeof change.compensates !== 'string') return reject('compensates must name the promise decision');
      return {
        outcome: 'ACCEPTED',
        state: {
          ...state,
          refundPromisedCents: Math.max(0, (num(state.refundPromisedCents) ?? 0) - amount),
          refundWithdrawnCents: (num(state.refundWithdrawnCents) ?? 0) + amount,
        },
        compensates: change.compensates,
        reason: String(change.reason ?? 'billing could not honour the refund'),
      };
    }
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
    case 'recommend':
      if (typeof proposal.change.recommendation !== 'string')
        return reject('recommendation must be a string');
      return accept({ ...current.state, recommendation: proposal.change.recommendation });
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
