/**
 * The model the features test checks against: the reference views on the test's own topics (plus a TTL
 * variant), the archive read back as pipeline events, and a plain-code recomputation of every view.
 */
import { COMMERCE_VIEWS } from '@accord/reference';
import { bucketsAt, defineFeatureView, type FeatureView, type PipelineEvent } from '@accord/sdk';
import type { Pool } from 'pg';

export function testViews(topics: { order: string; stock: string; customer: string }): FeatureView[] {
  return [
    ...COMMERCE_VIEWS.map((v) => ({
      ...v,
      topics: v.topics.map((t) =>
        t === 'commerce.order.events'
          ? topics.order
          : t === 'commerce.stock_item.events'
            ? topics.stock
            : topics.customer,
      ),
    })),
    defineFeatureView({
      name: 'ltv_short_lived',
      version: 1,
      entityType: 'customer',
      topics: [topics.order],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'sum',
      value: (e) => e.value?.totalCents as number,
      ttlSeconds: 3600,
    }),
    // A changed definition is a new version, computed alongside the old one.
    defineFeatureView({
      name: 'lifetime_value_cents',
      version: 2,
      entityType: 'customer',
      topics: [topics.order],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'sum',
      value: (e) => (e.value?.currency === 'EUR' ? (e.value?.totalCents as number) : 0),
    }),
    defineFeatureView({
      name: 'distinct_currencies',
      version: 1,
      entityType: 'customer',
      topics: [topics.order],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'distinct',
      value: (e) => e.value?.currency as string,
    }),
    defineFeatureView({
      name: 'avg_order_cents',
      version: 1,
      entityType: 'customer',
      topics: [topics.order],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'avg',
      value: (e) => e.value?.totalCents as number,
    }),
    defineFeatureView({
      name: 'min_order_cents',
      version: 1,
      entityType: 'customer',
      topics: [topics.order],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'min',
      value: (e) => e.value?.totalCents as number,
    }),
  ];
}

/** The reference implementation: the same definitions, applied in plain code to the archived events. */
export function recompute(
  view: FeatureView,
  events: PipelineEvent[],
  now: number,
): Map<string, number | string | null> {
  const buckets = view.window ? new Set(bucketsAt(view, now)) : undefined;
  const size = view.window
    ? (view.window.kind === 'sliding'
        ? view.window.sizeSeconds / (view.window.buckets ?? 12)
        : view.window.sizeSeconds) * 1000
    : 0;
  const groups = new Map<string, { values: (number | string)[]; times: number[] }>();
  for (const e of events) {
    if (!view.topics.includes(e.topic) || (view.eventTypes && !view.eventTypes.includes(e.schemaName ?? '')))
      continue;
    const t = (e.value?.envelope as { occurredAt: number } | undefined)?.occurredAt ?? 0;
    if (buckets && !buckets.has(Math.floor(t / size) * size)) continue;
    const id = view.entityId
      ? view.entityId(e)
      : (e.value?.envelope as { entityId: string } | undefined)?.entityId;
    if (!id) continue;
    const v = view.aggregation === 'count' ? 1 : view.value?.(e);
    if (v === undefined || v === null) continue;
    const g = groups.get(id) ?? { values: [], times: [] };
    g.values.push(v);
    g.times.push(t);
    groups.set(id, g);
  }
  const out = new Map<string, number | string | null>();
  for (const [id, { values, times }] of groups) {
    const nums = values.map(Number);
    switch (view.aggregation) {
      case 'count':
        out.set(id, values.length);
        break;
      case 'sum':
        out.set(
          id,
          nums.reduce((a, b) => a + b, 0),
        );
        break;
      case 'avg':
        out.set(id, nums.reduce((a, b) => a + b, 0) / nums.length);
        break;
      case 'min':
        out.set(id, Math.min(...nums));
        break;
      case 'max':
        out.set(id, Math.max(...nums));
        break;
      case 'last': {
        let best = 0;
        for (let i = 1; i < times.length; i++) if (times[i]! >= times[best]!) best = i;
        out.set(id, nums[best]!);
        break;
      }
      case 'distinct':
        out.set(id, new Set(values.map(String)).size);
        break;
    }
  }
  return out;
}

export async function readArchive(pool: Pool): Promise<PipelineEvent[]> {
  const { rows } = await pool.query<{
    event_type: string;
    entity_id: string;
    occurred_at: Date;
    topic: string;
    payload: Record<string, unknown>;
  }>(
    'select event_type, entity_id, occurred_at, topic, payload from event_archive order by topic, partition, kafka_offset',
  );
  return rows.map((r) => ({
    topic: r.topic,
    partition: 0,
    offset: '0',
    key: r.entity_id,
    timestamp: String(r.occurred_at.getTime()),
    headers: {},
    raw: null,
    schemaName: r.event_type,
    value: { envelope: { entityId: r.entity_id, occurredAt: r.occurred_at.getTime() }, ...r.payload },
  }));
}
