import { generateTraffic, seeded } from '@accord/reference';

/** The story a seed tells, as the publisher would receive it (this tests the generator, not Kafka). */
async function story(seed: number) {
  const items: { type: string; data: Record<string, unknown> }[] = [];
  const publisher = {
    publishMany: async (batch: { type: string; data: Record<string, unknown> }[]) => {
      items.push(...batch);
      return batch.map((_, i) => ({ eventId: `e-${items.length + i}` }));
    },
  };
  const result = await generateTraffic(publisher as never, {
    run: 'r1',
    seed,
    rate: 2000,
    durationMs: 200,
  });
  return { items, result };
}

test('the same seed tells the same story, and it provokes every contradiction', async () => {
  const a = await story(7);
  const b = await story(7);
  // (compared as JSON: the same story is the same text)
  expect(JSON.stringify(b.items)).toBe(JSON.stringify(a.items));
  expect(JSON.stringify((await story(8)).items)).not.toBe(JSON.stringify(a.items));
  const { result, items } = a;
  expect(result.orders).toBeGreaterThan(100);
  expect(result.fraudOrders).toBeGreaterThan(0);
  expect(result.overRefunds).toBeGreaterThan(0);
  const stock = items.filter((i) => i.type === 'accord.commerce.StockAdjusted');
  expect(stock.filter((s) => s.data.onHand === 3).map((s) => s.data.sku)).toEqual(result.hotSkus);
  // Every order has its payment; every over-ask asks for more than the order's total.
  const totals = new Map(
    items
      .filter((i) => i.type === 'accord.commerce.OrderPlaced')
      .map((i) => [i.data.orderId, Number(i.data.totalCents)]),
  );
  expect(items.filter((i) => i.type === 'accord.commerce.PaymentCaptured')).toHaveLength(totals.size);
  const over = items.filter(
    (i) =>
      i.type === 'accord.commerce.RefundRequested' &&
      Number(i.data.amountCents) > (totals.get(i.data.orderId) ?? 0),
  );
  expect(over).toHaveLength(result.overRefunds);
  expect(
    items.every(
      (i) => JSON.stringify(i.data).includes('r1-') || i.type === 'accord.commerce.RefundRequested',
    ),
  ).toBe(true);
});

test('seeded numbers are in [0, 1) and reproducible', () => {
  const r = seeded(42);
  const xs = Array.from({ length: 1000 }, r);
  expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  expect(Array.from({ length: 1000 }, seeded(42))).toEqual(xs);
});
