import {
  type AgentContext,
  type AgentEvent,
  defineAgent,
  eventsTopic,
  type FeatureResult,
} from '@accord/sdk';

/**
 * The reference commerce fleet: each agent reacts to facts (checkout, the payment gateway, the warehouse,
 * customers writing to support) and to owners' decisions, reads shared features, and *proposes*; the
 * owners (owners.ts) decide. Their rules are small and deterministic so the main job needs no model; the
 * support agent shows where a model call goes (`ctx.sideEffect`). Topic names follow
 * ACCORD_TOPIC_NAMESPACE as it is when this module loads; the manifests name the same topics.
 */
const topic = (entity: string) => eventsTopic(entity, 'commerce');
const PLACED = 'accord.commerce.OrderPlaced';
const DECISION = 'accord.platform.Decision';

const numberOf = (f: FeatureResult | undefined): number =>
  f && !('missing' in f) ? Number(f.value) || 0 : 0;
const str = (v: unknown) => String(v ?? '');

interface Line {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

/** Places the order, reserves its lines, then ships it, or marks it out of stock when a line cannot be had. */
export const fulfillment = defineAgent({
  name: 'fulfillment',
  consumes: [topic('order')],
  proposes: ['order', 'stock_item'],
  async handle(event: AgentEvent, ctx: AgentContext) {
    if (event.type !== PLACED) return;
    const orderId = str(event.data.orderId);
    const lines = (event.data.lines ?? []) as Line[];
    const placed = await ctx.decision(
      await ctx.propose(
        'order',
        orderId,
        'place',
        { orderId, customerId: event.data.customerId, totalCents: event.data.totalCents, lines },
        { reason: 'checkout placed it' },
      ),
    );
    if (placed.outcome !== 'ACCEPTED') return;
    for (const line of lines) {
      const reserved = await ctx.decision(
        await ctx.propose('stock_item', line.sku, 'reserve', { quantity: line.quantity, orderId }),
      );
      if (reserved.outcome !== 'ACCEPTED') {
        await ctx.decision(
          await ctx.propose(
            'order',
            orderId,
            'mark_out_of_stock',
            { sku: line.sku },
            { reason: reserved.reason ?? '' },
          ),
        );
        return;
      }
    }
    // Shipping expects the version it saw: a block that landed meanwhile makes it stale (a conflict).
    const now = await ctx.state('order', orderId);
    await ctx.decision(
      await ctx.propose(
        'order',
        orderId,
        'ship',
        { carrier: 'dhl' },
        { expectedVersion: now?.version ?? null },
      ),
    );
  },
});

/** Grants loyal customers a discount (lifetime value and order count from the feature cache). */
export const pricing = defineAgent({
  name: 'pricing',
  consumes: [topic('order')],
  reads: { features: ['lifetime_value_cents', 'order_count'] },
  proposes: ['order'],
  async handle(event, ctx) {
    if (event.type !== PLACED) return;
    const customer = str(event.data.customerId);
    const f = await ctx.features.get('customer', customer, ['lifetime_value_cents', 'order_count']);
    const ltv = numberOf(f.lifetime_value_cents);
    const orders = numberOf(f.order_count);
    const percent = ltv >= 20_000 ? 10 : orders >= 3 ? 5 : 0;
    if (percent === 0) return;
    await ctx.decision(
      await ctx.propose(
        'order',
        str(event.data.orderId),
        'discount',
        { discountPercent: percent },
        {
          reason: `loyal customer: lifetime value ${ltv}, ${orders} orders`,
          context: { lifetime_value_cents: ltv, order_count: orders },
        },
      ),
    );
  },
});

/** Flags fraud (known fraud accounts, or too many orders in the hour) and blocks the order. */
export const risk = defineAgent({
  name: 'risk',
  consumes: [topic('order')],
  reads: { features: ['orders_last_hour'] },
  proposes: ['order', 'customer'],
  emits: ['accord.commerce.RiskFlagged'],
  async handle(event, ctx) {
    if (event.type !== PLACED) return;
    const customer = str(event.data.customerId);
    const orderId = str(event.data.orderId);
    const f = await ctx.features.get('customer', customer, ['orders_last_hour']);
    const velocity = numberOf(f.orders_last_hour);
    if (!customer.includes('fraud') && velocity <= 20) return;
    const riskScore = customer.includes('fraud') ? 0.95 : 0.7;
    await ctx.propose('customer', customer, 'flag_risk', { riskScore });
    await ctx.emit(
      'accord.commerce.RiskFlagged',
      { customerId: customer, orderId, riskScore, chargebacks: 0, action: 'BLOCK' },
      { entityId: customer },
    );
    await ctx.decision(
      await ctx.propose(
        'order',
        orderId,
        'block',
        { reason: 'fraud suspected' },
        {
          reason: `risk ${riskScore}, ${velocity} orders in the hour`,
        },
      ),
    );
  },
});

/**
 * Answers refund requests: promises the refund to the customer, asks billing (the payment's owner) to pay
 * it, and withdraws the promise, as a compensation, when billing refuses. The reply text is where a model
 * call goes; journaled with ctx.sideEffect so a replay does not call again. Default: a fixed template.
 */
export const support = defineAgent({
  name: 'support',
  consumes: [topic('order')],
  proposes: ['order', 'payment'],
  async handle(event, ctx) {
    if (event.type !== 'accord.commerce.RefundRequested') return;
    const orderId = str(event.data.orderId);
    const amountCents = Number(event.data.amountCents);
    const reply = await ctx.sideEffect('reply', () => ({
      text: `We are sorry: ${amountCents / 100} will be refunded on order ${orderId}.`,
    }));
    const promise = await ctx.decision(
      await ctx.propose('order', orderId, 'promise_refund', { amountCents }, { reason: reply.text }),
    );
    if (promise.outcome !== 'ACCEPTED') return;
    const paid = await ctx.decision(
      await ctx.propose('payment', `${orderId}-pay`, 'refund', { amountCents, orderId }),
    );
    if (paid.outcome === 'ACCEPTED') return;
    await ctx.decision(
      await ctx.propose('order', orderId, 'withdraw_refund_promise', {
        amountCents,
        compensates: promise.decisionId,
        reason: `billing refused: ${paid.reason ?? ''}`,
      }),
    );
  },
});

/** Records captured payments with the payment's owner (billing). */
export const billing = defineAgent({
  name: 'billing',
  consumes: [topic('payment')],
  proposes: ['payment'],
  async handle(event, ctx) {
    if (event.type !== 'accord.commerce.PaymentCaptured') return;
    await ctx.decision(
      await ctx.propose('payment', str(event.data.paymentId), 'capture', {
        amountCents: Number(event.data.amountCents),
        orderId: event.data.orderId,
      }),
    );
  },
});

/** Applies the warehouse's counts to stock items, and restocks an item whose reservation was refused. */
export const inventory = defineAgent({
  name: 'inventory',
  consumes: [topic('stock_item')],
  proposes: ['stock_item'],
  async handle(event, ctx) {
    if (event.type === 'accord.commerce.StockAdjusted') {
      await ctx.decision(
        await ctx.propose('stock_item', str(event.data.sku), 'adjust', {
          quantity: Number(event.data.onHand),
        }),
      );
      return;
    }
    if (event.type === DECISION && event.data.action === 'reserve' && event.data.outcome === 'REJECTED') {
      const item = await ctx.state('stock_item', event.entityId);
      const onHand = Number(item?.state.onHand ?? 0);
      await ctx.decision(
        await ctx.propose(
          'stock_item',
          event.entityId,
          'adjust',
          { quantity: onHand + 20 },
          {
            expectedVersion: item?.version ?? null,
            reason: 'restock after a refused reservation',
          },
        ),
      );
    }
  },
});

/** Registers customers and recommends from their history (features). */
export const personalization = defineAgent({
  name: 'personalization',
  consumes: [topic('customer'), topic('order')],
  reads: { features: ['order_count', 'lifetime_value_cents'] },
  proposes: ['customer'],
  async handle(event, ctx) {
    if (event.type === 'accord.commerce.CustomerRegistered') {
      await ctx.propose('customer', str(event.data.customerId), 'register', {
        email: event.data.email,
        country: event.data.country,
      });
      return;
    }
    if (event.type !== PLACED) return;
    const customer = str(event.data.customerId);
    const f = await ctx.features.get('customer', customer, ['order_count', 'lifetime_value_cents']);
    const recommendation =
      numberOf(f.lifetime_value_cents) >= 20_000
        ? 'premium'
        : numberOf(f.order_count) >= 2
          ? 'regular'
          : 'welcome';
    await ctx.propose('customer', customer, 'recommend', { recommendation });
  },
});

export const COMMERCE_AGENTS = [fulfillment, pricing, risk, support, billing, inventory, personalization];
