import { defineFeatureView, eventsTopic, type PipelineEvent } from '@accord/sdk';

const field = (name: string) => (e: PipelineEvent) => e.value?.[name] as number | string | undefined;

/**
 * The reference commerce features, computed once and served to every agent. Their topics follow
 * ACCORD_TOPIC_NAMESPACE as it is when this module loads.
 */
export const COMMERCE_VIEWS = [
  defineFeatureView({
    name: 'order_count',
    version: 1,
    entityType: 'customer',
    description: 'Orders the customer placed, all time',
    topics: [eventsTopic('order', 'commerce')],
    eventTypes: ['accord.commerce.OrderPlaced'],
    entityId: (e) => e.value?.customerId as string,
    aggregation: 'count',
  }),
  defineFeatureView({
    name: 'lifetime_value_cents',
    version: 1,
    entityType: 'customer',
    description: 'Sum of the totals of the orders the customer placed',
    topics: [eventsTopic('order', 'commerce')],
    eventTypes: ['accord.commerce.OrderPlaced'],
    entityId: (e) => e.value?.customerId as string,
    aggregation: 'sum',
    value: field('totalCents'),
  }),
  defineFeatureView({
    name: 'orders_last_hour',
    version: 1,
    entityType: 'customer',
    description: 'Orders placed in the last hour (sliding, 5-minute steps)',
    topics: [eventsTopic('order', 'commerce')],
    eventTypes: ['accord.commerce.OrderPlaced'],
    entityId: (e) => e.value?.customerId as string,
    aggregation: 'count',
    window: { kind: 'sliding', sizeSeconds: 3600, buckets: 12 },
    freshnessSeconds: 5,
  }),
  defineFeatureView({
    name: 'risk_score',
    version: 1,
    entityType: 'customer',
    description: 'The latest risk score the risk agent flagged',
    topics: [eventsTopic('customer', 'commerce')],
    eventTypes: ['accord.commerce.RiskFlagged'],
    aggregation: 'last',
    value: field('riskScore'),
    ttlSeconds: 86400,
  }),
  defineFeatureView({
    name: 'max_discount_percent',
    version: 1,
    entityType: 'order',
    description: 'The largest discount granted on the order',
    topics: [eventsTopic('order', 'commerce')],
    eventTypes: ['accord.commerce.DiscountApproved'],
    aggregation: 'max',
    value: field('percent'),
  }),
  defineFeatureView({
    name: 'stock_available',
    version: 1,
    entityType: 'stock_item',
    description: 'On hand minus reserved, after the latest reservation',
    topics: [eventsTopic('stock_item', 'commerce')],
    eventTypes: ['accord.commerce.StockReserved'],
    aggregation: 'last',
    value: (e) => Number(e.value?.onHandAfter) - Number(e.value?.reservedAfter),
  }),
];
