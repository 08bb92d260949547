/**
 * One order followed through the fleet on the real stack, traced with OpenTelemetry (in-memory exporter):
 * checkout publishes OrderPlaced; the feature pipeline counts it; the pricing agent reads the feature,
 * proposes a discount and waits; the order owner decides; its outbox relay publishes the decision; a
 * notifier consumes it. Every hop is one trace: the W3C context travels in Kafka headers and the outbox.
 * Batches are spans linked to the records they hold. The agent's lineage row carries the same trace id.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  addAgentRole,
  createAccord,
  createAgent,
  createPgPool,
  defineAgent,
  defineFeatureView,
  grantCheckpointGroups,
  type OpenTelemetry,
  resolveConfig,
  startOpenTelemetry,
  startOutboxRelay,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const ctx = new TestContext(resolveConfig());
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const prefix = ctx.redisPrefix();
const AGENT = 't_tracer';
const AGENT_GROUP = uniqueName('t-agent');
const OWNER_GROUP = uniqueName('t-owner');
const memory = new InMemorySpanExporter();
let otel: OpenTelemetry;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  otel = startOpenTelemetry({ serviceName: 'trace-test', spanExporters: [memory], env: {} });
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  await addAgentRole(admin, AGENT, [AGENT_GROUP]);
  await grantCheckpointGroups(admin, 'accord_owner_order', [OWNER_GROUP]);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await otel.shutdown();
  await admin.end();
  await ctx.cleanup();
});

const attr = (s: ReadableSpan, name: string) => s.attributes[name];

test('one trace from the order placed to the decision event consumed, across agent, owner and outbox', async () => {
  const orders = await ctx.createTopic({ partitions: 2 });
  const proposals = await ctx.createTopic({ partitions: 2 });
  const decisions = await ctx.createTopic({ partitions: 2 });
  const views = [
    defineFeatureView({
      name: 'order_count',
      version: 1,
      entityType: 'customer',
      topics: [orders],
      eventTypes: ['accord.commerce.OrderPlaced'],
      entityId: (e) => e.value?.customerId as string,
      aggregation: 'count',
    }),
  ];
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const features = system.features({ views, prefix, group: uniqueName('t-features') });
  const ownerAccord = createAccord({ catalog: referenceCatalog, databaseUrl: db.url('accord_owner_order') });
  stops.push(() => ownerAccord.close());
  const owner = ownerAccord.owner({
    entityType: 'order',
    topic: proposals,
    group: OWNER_GROUP,
    decide: ({ proposal, current }) => ({
      outcome: 'ACCEPTED',
      state: { ...current.state, ...proposal.change },
    }),
  });
  const relay = startOutboxRelay(
    ownerAccord.pool(),
    ownerAccord.publisher({ producer: 'owner-order' }),
    'order',
    {
      topic: decisions,
      intervalMs: 50,
    },
  );
  stops.push(() => relay.stop());
  const notified: string[] = [];
  const notifier = system.pipeline({
    name: 'notifier',
    group: uniqueName('t-notifier'),
    topics: [decisions],
    from: 'earliest',
    handler: async (event) => {
      notified.push(event.headers['accord-event-id'] ?? '');
    },
  });
  const agentAccord = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url(`accord_agent_${AGENT}`),
  });
  stops.push(() => agentAccord.close());
  const seen: { decisionId: string }[] = [];
  const agent = createAgent(
    agentAccord,
    defineAgent({
      name: AGENT,
      consumes: [orders],
      reads: { features: ['order_count'] },
      proposes: ['order'],
      async handle(event, a) {
        const count = await a.features.get('customer', event.data.customerId as string, ['order_count']);
        const p = await a.propose(
          'order',
          event.entityId,
          'discount',
          { discountPercent: 10 },
          {
            expectedVersion: 0,
            context: { order_count: count.order_count },
          },
        );
        seen.push(await a.decision(p));
      },
    }),
    { views, group: AGENT_GROUP, featurePrefix: prefix, proposalsTopic: () => proposals },
  );
  stops.push(() => agent.stop());
  await features.start();
  await owner.start();
  await notifier.start();

  const published = await system
    .publisher({ producer: 'checkout', autoRegister: true })
    .publish(
      'accord.commerce.OrderPlaced',
      { orderId: 'o-1', customerId: 'c-1', lines: [], totalCents: 1000, currency: 'EUR' },
      { entityId: 'o-1', topic: orders },
    );
  const reader = system.featureReader({ views, prefix });
  await eventually(
    async () => {
      const f = (await reader.get('customer', 'c-1', ['order_count'])).order_count;
      return f !== undefined && !('missing' in f);
    },
    { what: 'order_count computed' },
  );
  await agent.start();
  await eventually(() => seen.length === 1 && notified.length === 1, { what: 'decision made and consumed' });
  const decisionId = seen[0]?.decisionId;
  expect(notified).toEqual([decisionId]);
  await otel.forceFlush();

  const spans = memory.getFinishedSpans();
  const root = spans.find((s) => s.name === 'accord.commerce.OrderPlaced publish');
  expect(root?.kind).toBe(SpanKind.PRODUCER);
  expect(attr(root!, 'accord.event.id')).toBe(published.eventId);
  const traceId = root!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const names = inTrace.map((s) => s.name);
  // Every hop, each in the trace: checkout, the feature pipeline, the agent, the owner, the relay's
  // decision event, the notifier.
  for (const name of [
    'accord.commerce.OrderPlaced publish',
    `${orders} process`,
    `agent ${AGENT} handle`,
    'feature read',
    'order propose',
    'accord.platform.ChangeProposal publish',
    `${proposals} process`,
    'order decide',
    'decision wait',
    `${decisions} process`,
  ])
    expect(names).toContain(name);
  // Two consumers of the order (feature pipeline and agent) are two children of the publish span.
  expect(
    inTrace.filter(
      (s) => s.name === `${orders} process` && s.parentSpanContext?.spanId === root!.spanContext().spanId,
    ),
  ).toHaveLength(2);

  const handle = inTrace.find((s) => s.name === `agent ${AGENT} handle`)!;
  expect(attr(handle, 'accord.agent')).toBe(AGENT);
  expect(attr(handle, 'accord.entity.id')).toBe('o-1');
  expect(attr(handle, 'accord.agent.outcome')).toBe('proposed');
  const read = inTrace.find((s) => s.name === 'feature read')!;
  expect(read.parentSpanContext?.spanId).toBe(handle.spanContext().spanId);
  expect(typeof attr(read, 'accord.feature.staleness_ms')).toBe('number');

  const decide = inTrace.find((s) => s.name === 'order decide')!;
  const proposalId = attr(decide, 'accord.proposal.id');
  expect(attr(decide, 'accord.decision.id')).toBe(decisionId);
  expect(attr(decide, 'accord.decision.outcome')).toBe('ACCEPTED');
  expect(attr(decide, 'accord.agent')).toBe(AGENT);
  expect(attr(decide, 'accord.entity.version_after')).toBe(1);
  // The owner decided under the proposal's publish span, which the agent's propose span made.
  const ownerProcess = byId.get(decide.parentSpanContext!.spanId)!;
  expect(ownerProcess.name).toBe(`${proposals} process`);
  const proposalPublish = byId.get(ownerProcess.parentSpanContext!.spanId)!;
  expect(proposalPublish.name).toBe('accord.platform.ChangeProposal publish');
  expect(byId.get(proposalPublish.parentSpanContext!.spanId)?.name).toBe('order propose');
  expect(attr(byId.get(proposalPublish.parentSpanContext!.spanId)!, 'accord.proposal.id')).toBe(proposalId);
  // The decision event continues the decision's trace through the outbox.
  const notify = inTrace.find((s) => s.name === `${decisions} process`)!;
  expect(notify.parentSpanContext?.spanId).toBe(decide.spanContext().spanId);
  expect(attr(notify, 'accord.event.id')).toBe(decisionId);

  // Batches: the owner's record was handled inside a receive span (its own trace), linked both ways.
  const receive = spans.find((s) => s.spanContext().spanId === ownerProcess.links[0]?.context.spanId);
  expect(receive?.name).toBe(`${proposals} receive`);
  expect(receive?.links.map((l) => l.context.spanId)).toContain(proposalPublish.spanContext().spanId);
  // The relay's batch publish links to the decision it carried.
  const relayBatch = spans.find(
    (s) =>
      s.name === 'publish batch' && s.links.some((l) => l.context.spanId === decide.spanContext().spanId),
  );
  expect(relayBatch?.kind).toBe(SpanKind.PRODUCER);

  // Lineage and traces point at each other.
  const { rows } = await admin.query(
    'select trace_id, outcome, reads, proposals from agent_runs where agent = $1 and event_id = $2',
    [AGENT, published.eventId],
  );
  expect(rows[0]).toMatchObject({
    trace_id: traceId,
    outcome: 'proposed',
    reads: [
      expect.objectContaining({ entityType: 'customer', entityId: 'c-1', feature: 'order_count', value: 1 }),
    ],
    proposals: [{ proposalId, entityType: 'order', entityId: 'o-1', action: 'discount' }],
  });
});

test("a publishMany's events carry its batch span, each one bringing its own context keeps it", async () => {
  const topic = await ctx.createTopic({ partitions: 2 });
  memory.reset();
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const order = (n: number) => ({
    orderId: `o-${n}`,
    customerId: 'c-9',
    lines: [],
    totalCents: n,
    currency: 'EUR',
  });
  // Two batches: the first event of a type goes the async way (its schema id unknown), the rest the sync one.
  const publisher = system.publisher({ producer: 'checkout', autoRegister: true });
  for (const batch of [0, 1])
    await publisher.publishMany([
      { type: 'OrderPlaced', data: order(batch * 3), options: { entityId: `o-${batch}a`, topic } },
      {
        type: 'OrderPlaced',
        data: order(batch * 3 + 1),
        options: { entityId: `o-${batch}b`, topic, headers: { traceparent: own } },
      },
      { type: 'OrderPlaced', data: order(batch * 3 + 2), options: { entityId: `o-${batch}c`, topic } },
    ]);
  const got = new Map<string, string | undefined>();
  const p = system.pipeline({
    name: 'batch-trace',
    group: uniqueName('t-batch-trace'),
    topics: [topic],
    from: 'earliest',
    handler: (e) => {
      got.set(e.key as string, e.headers.traceparent);
    },
  });
  stops.push(() => p.stop());
  await p.start();
  await eventually(() => got.size === 6, { what: 'six events consumed' });
  const batches = memory.getFinishedSpans().filter((s) => s.name === 'publish batch');
  expect(batches).toHaveLength(2);
  for (const [i, span] of batches.entries()) {
    const { traceId, spanId } = span.spanContext();
    expect(got.get(`o-${i}a`)).toBe(`00-${traceId}-${spanId}-01`);
    expect(got.get(`o-${i}b`)).toBe(own);
    expect(got.get(`o-${i}c`)).toBe(`00-${traceId}-${spanId}-01`);
  }
});

test('nothing is traced once OpenTelemetry is shut down, and publishing still works', async () => {
  // (Runs after the first: its provider is gone; the API falls back to no-ops and no header is written.)
  const topic = await ctx.createTopic();
  await otel.shutdown();
  memory.reset();
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const got: Record<string, string>[] = [];
  const p = system.pipeline({
    name: 'untraced',
    group: uniqueName('t-untraced'),
    topics: [topic],
    from: 'earliest',
    handler: async (e) => {
      got.push(e.headers);
    },
  });
  await p.start();
  await system
    .publisher({ producer: 'checkout', autoRegister: true })
    .publish(
      'accord.commerce.OrderPlaced',
      { orderId: 'o-2', customerId: 'c-2', lines: [], totalCents: 5, currency: 'EUR' },
      { entityId: 'o-2', topic },
    );
  await eventually(() => got.length === 1, { what: 'event consumed' });
  expect(got[0]?.traceparent).toBeUndefined();
  expect(got[0]?.['accord-event-type']).toBe('accord.commerce.OrderPlaced');
  expect(memory.getFinishedSpans()).toEqual([]);
});
