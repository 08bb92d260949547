import type { PublishItem, SomePublisher } from '@accord/sdk';
import type { SchemaTypes as ReferenceTypes } from '../schemas.generated';

/**
 * The commerce world the fleet serves, as facts published by checkout, the payment gateway, the
 * warehouse and customers: registrations, stock counts, orders and their payments, refund requests. It
 * deliberately provokes the article's three contradictions: hot items with little stock (a discount on an
 * item going out of stock), fraud accounts whose orders the risk agent blocks while fulfillment ships (a
 * block on an order already shipping), and refund requests above what was paid (a refund promise billing
 * cannot honour). Seeded: the same seed and rate give the same story.
 */
export interface TrafficOptions {
  /** Prefix of every entity id of this run (entity ids are the run's own: runs never collide). */
  run: string;
  seed: number;
  /** Story steps per second. */
  rate: number;
  durationMs: number;
  customers?: number;
  skus?: number;
  onProgress?: (done: number, total: number) => void;
  /** Stops early when it returns true (Ctrl-C). */
  stopped?: () => boolean;
}

export interface TrafficResult {
  /** Every event id published (the auditor checks each was archived). */
  eventIds: string[];
  orders: number;
  refunds: number;
  overRefunds: number;
  fraudOrders: number;
  hotSkus: string[];
}

/** mulberry32: a tiny seeded PRNG (the story must be reproducible, not secure). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Item = PublishItem<ReferenceTypes>;

export async function generateTraffic(
  publisher: Pick<SomePublisher, 'publishMany'>,
  options: TrafficOptions,
): Promise<TrafficResult> {
  const random = seeded(options.seed);
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T;
  const { run } = options;
  const customers = Array.from({ length: options.customers ?? 40 }, (_, i) => `${run}-c-${i}`);
  const loyal = customers.slice(0, Math.ceil(customers.length / 5));
  const fraudsters = [`${run}-fraud-1`, `${run}-fraud-2`];
  const skus = Array.from({ length: options.skus ?? 12 }, (_, i) => `${run}-sku-${i}`);
  const hotSkus = skus.slice(0, 3);
  const result: TrafficResult = {
    eventIds: [],
    orders: 0,
    refunds: 0,
    overRefunds: 0,
    fraudOrders: 0,
    hotSkus,
  };
  const placed: { orderId: string; totalCents: number }[] = [];
  const send = async (items: Item[]) => {
    const sent = await publisher.publishMany(items);
    result.eventIds.push(...sent.map((e) => e.eventId));
  };

  // The world before the first order: customers and the warehouse's counts (hot items are scarce).
  await send([
    ...[...customers, ...fraudsters].map(
      (customerId): Item => ({
        type: 'accord.commerce.CustomerRegistered',
        data: { customerId, email: `${customerId}@example.com`, country: pick(['DE', 'FR', 'NL', 'ES']) },
        options: { entityId: customerId },
      }),
    ),
    ...skus.map(
      (sku): Item => ({
        type: 'accord.commerce.StockAdjusted',
        data: { sku, onHand: hotSkus.includes(sku) ? 3 : 200, sellable: true },
        options: { entityId: sku },
      }),
    ),
  ]);

  const total = Math.max(1, Math.round((options.rate * options.durationMs) / 1000));
  const started = Date.now();
  let orderNo = 0;
  const order = (customerId: string): Item[] => {
    const orderId = `${run}-o-${++orderNo}`;
    const big = loyal.includes(customerId);
    const lines = Array.from({ length: 1 + Math.floor(random() * 2) }, () => ({
      sku: random() < 0.25 ? pick(hotSkus) : pick(skus),
      quantity: 1 + Math.floor(random() * 2),
      unitPriceCents: (big ? 8000 : 1000) + Math.floor(random() * 4000),
    }));
    const totalCents = lines.reduce((n, l) => n + l.quantity * l.unitPriceCents, 0);
    placed.push({ orderId, totalCents });
    result.orders++;
    return [
      {
        type: 'accord.commerce.OrderPlaced',
        data: { orderId, customerId, lines, totalCents, currency: 'EUR' },
        options: { entityId: orderId },
      },
      {
        type: 'accord.commerce.PaymentCaptured',
        data: { paymentId: `${orderId}-pay`, orderId, amountCents: totalCents, currency: 'EUR' },
        options: { entityId: `${orderId}-pay` },
      },
    ];
  };
  for (let step = 0; step < total && !options.stopped?.(); step++) {
    const roll = random();
    if (roll < 0.06) {
      result.fraudOrders++;
      await send(order(pick(fraudsters)));
    } else if (roll < 0.18 && placed.length > 3) {
      const target = pick(placed);
      const over = random() < 0.35;
      result.refunds++;
      if (over) result.overRefunds++;
      await send([
        {
          type: 'accord.commerce.RefundRequested',
          data: {
            orderId: target.orderId,
            amountCents: over ? target.totalCents * 2 : Math.ceil(target.totalCents / 3),
            reason: over ? 'asks for more than was paid' : 'damaged item',
          },
          options: { entityId: target.orderId },
        },
      ]);
    } else await send(order(pick(customers)));
    options.onProgress?.(step + 1, total);
    // Paced to the rate: wait for this step's slot.
    const due = started + ((step + 1) * 1000) / options.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return result;
}
