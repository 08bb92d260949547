/**
 * An agent on the real stack: it consumes orders, reads state and features with their staleness, asks a
 * model (a local OpenAI-compatible server) through a journaled side effect, proposes to the order owner
 * and gets the decision pushed. A replay makes no new model call and reaches the same decisions;
 * --recompute calls again. The kill switch stops and resumes it. An agent with a freshness objective it
 * cannot meet refuses, recorded. (Emitting, its role's limits and decision timeouts: agent-emit.int.test.ts.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  type Agent,
  addAgentRole,
  ChatClient,
  createAccord,
  createAgent,
  createPgPool,
  defineAgent,
  defineFeatureView,
  grantCheckpointGroups,
  resolveConfig,
  type SomePublisher,
  withRetry,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import { eventually, TestContext, uniqueName } from '@accord/testing';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 4 });
const prefix = ctx.redisPrefix();
const NAME = 't_pricing';
const GROUP = uniqueName('t-agent');
const REFUSER = 't_cautious';
const REFUSER_GROUP = uniqueName('t-agent');
let orders: string;
let proposals: string;
const stops: (() => Promise<void>)[] = [];

// A deterministic OpenAI-compatible model: the discount it grants is the order's total modulo 40.
let modelCalls = 0;
let server: Server;
let modelUrl: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      modelCalls++;
      const { messages } = JSON.parse(body) as { messages: { content: string }[] };
      const total = Number(/total=(\d+)/.exec(messages.at(-1)?.content ?? '')?.[1]);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          model: 'test-model',
          choices: [{ message: { role: 'assistant', content: String(total % 40) }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 1 },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  modelUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  orders = await ctx.createTopic({ partitions: 2 });
  proposals = await ctx.createTopic({ partitions: 2 });
  // Agent roles are cluster-wide; which groups they advance lives in this test's schema.
  await addAgentRole(admin, NAME, [GROUP]);
  await addAgentRole(admin, REFUSER, [REFUSER_GROUP]);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await new Promise<void>((r) => server.close(() => r()));
  await admin.end();
  await ctx.cleanup();
});

const orderCount = () =>
  defineFeatureView({
    name: 'order_count',
    version: 1,
    entityType: 'customer',
    topics: [orders],
    eventTypes: ['accord.commerce.OrderPlaced'],
    entityId: (e) => e.value?.customerId as string,
    aggregation: 'count',
  });

interface Outcome {
  orderId: string;
  discount: number;
  outcome: string;
  replay: boolean;
}
const outcomes: Outcome[] = [];
const running: { pricing?: Agent; publisher?: SomePublisher } = {};

test('an agent consumes, reads, asks the model once, proposes and gets each decision pushed', async () => {
  const views = [orderCount()];
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const features = system.features({ views, prefix, group: uniqueName('t-features') });
  const ownerGroup = uniqueName('t-owner');
  await grantCheckpointGroups(admin, 'accord_owner_order', [ownerGroup]);
  const ownerAccord = createAccord({ catalog: referenceCatalog, databaseUrl: db.url('accord_owner_order') });
  stops.push(() => ownerAccord.close());
  const owner = ownerAccord.owner({
    entityType: 'order',
    topic: proposals,
    group: ownerGroup,
    // The order owner's rule: a discount above 30% is refused.
    decide: ({ proposal, current }) =>
      Number(proposal.change.discountPercent) > 30
        ? { outcome: 'REJECTED', reason: 'discounts above 30% need a human' }
        : { outcome: 'ACCEPTED', state: { ...current.state, ...proposal.change } },
  });
  stops.push(() => owner.stop());
  await features.start();
  await owner.start();

  const chat = new ChatClient({ baseUrl: modelUrl, model: 'test-model' });
  const pricing = defineAgent({
    name: NAME,
    consumes: [orders],
    reads: { features: ['order_count'] },
    proposes: ['order'],
    freshness: { order_count: 600_000 },
    async handle(event, agent) {
      if (event.type !== 'accord.commerce.OrderPlaced') return;
      const orderId = event.data.orderId as string;
      const state = await agent.state('order', orderId);
      const seen = await agent.features.get('customer', event.data.customerId as string, ['order_count']);
      const answer = await agent.sideEffect('model', () =>
        chat.complete([{ role: 'user', content: `discount for total=${event.data.totalCents}` }]),
      );
      const discount = Number(answer.content);
      const proposal = await agent.propose(
        'order',
        orderId,
        'discount',
        { discountPercent: discount },
        {
          expectedVersion: state?.version ?? 0,
          reason: 'model suggestion',
          context: { order_count: seen.order_count },
        },
      );
      const decision = await agent.decision(proposal);
      outcomes.push({ orderId, discount, outcome: decision.outcome, replay: agent.replay });
    },
  });
  const agentAccord = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url(`accord_agent_${NAME}`),
  });
  const agent = createAgent(agentAccord, pricing, {
    views,
    group: GROUP,
    featurePrefix: prefix,
    proposalsTopic: () => proposals,
  });
  stops.push(async () => {
    await agent.stop();
    await agentAccord.close();
  });
  running.pricing = agent;
  const publisher = system.publisher({ producer: 'checkout', autoRegister: true });
  running.publisher = publisher;
  const totals = [1000, 1015, 1039, 1005, 1033]; // discounts 0, 15, 39, 5, 33
  await publisher.publishMany(
    totals.map((totalCents, i) => ({
      type: 'accord.commerce.OrderPlaced' as const,
      data: { orderId: `o-${i}`, customerId: 'c-1', lines: [], totalCents, currency: 'EUR' },
      options: { entityId: `o-${i}`, topic: orders },
    })),
  );
  // The features first: a value not computed yet is missing, and a missing value is context the agent
  // refuses to decide on (its freshness objective), which the next test shows.
  const reader = system.featureReader({ views, prefix });
  await eventually(
    async () => {
      const f = (await reader.get('customer', 'c-1', ['order_count'])).order_count;
      return f && !('missing' in f) && f.value === 5;
    },
    { what: 'order_count of c-1 computed' },
  );
  await agent.start();
  await eventually(() => outcomes.length >= 5, { what: () => `5 decided orders (${outcomes.length})` });
  expect(outcomes.map(({ orderId, discount, outcome }) => [orderId, discount, outcome]).sort()).toEqual([
    ['o-0', 0, 'ACCEPTED'],
    ['o-1', 15, 'ACCEPTED'],
    ['o-2', 39, 'REJECTED'],
    ['o-3', 5, 'ACCEPTED'],
    ['o-4', 33, 'REJECTED'],
  ]);
  expect(modelCalls).toBe(5);
  const { rows: journal } = await admin.query<{ n: string; calls: string }>(
    `select count(*) as n, sum(calls) as calls from agent_side_effects where agent = $1`,
    [NAME],
  );
  expect(journal[0]).toEqual({ n: '5', calls: '5' });
  // The proposals carry the agent, its reason, what it read, and the event that caused them (lineage).
  const { rows: audited } = await admin.query<{
    agent: string;
    reason: string;
    context: { order_count: unknown };
    causation_id: string;
    correlation_id: string;
  }>('select agent, reason, context, causation_id, correlation_id from order_proposals');
  expect(audited).toHaveLength(5);
  for (const p of audited) {
    expect(p).toMatchObject({ agent: NAME, reason: 'model suggestion' });
    // An event without a correlation id starts its own conversation: the agent uses the event's id.
    expect(p.causation_id).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    expect(p.correlation_id).toBe(p.causation_id);
  }
  // A replay: no new model call, the same proposals (same ids: the owner decides nothing twice), the
  // same decisions.
  const ops = await Ops.connect(resolveConfig({ databaseUrl: db.url() }));
  stops.push(() => ops.close());
  // As an operator would: a replay that raced the pipeline's own claim is refused unchanged; plan again.
  const replay = (recompute: boolean) =>
    withRetry(
      async () => {
        const plan = { ...(await ops.planReplay(GROUP, { kind: 'earliest' })), recompute };
        await ops.executeReplay(plan, 'agent test');
        return plan;
      },
      { retryIf: (e) => (e as { code?: string }).code === 'PIPELINE_FENCED' },
    );
  const before = outcomes.length;
  await replay(false);
  await eventually(() => outcomes.length >= before + 5, { what: 'the replayed decisions' });
  const replayed = outcomes.slice(before);
  expect(replayed.every((o) => o.replay)).toBe(true);
  expect(replayed.map(({ orderId, outcome }) => [orderId, outcome]).sort()).toEqual(
    outcomes
      .slice(0, before)
      .map(({ orderId, outcome }) => [orderId, outcome])
      .sort(),
  );
  expect(modelCalls).toBe(5);
  const { rows: decided } = await admin.query<{ n: string }>('select count(*) as n from order_decisions');
  expect(decided[0]?.n).toBe('5');

  // --recompute: the model is asked again, and the journal counts the second call.
  const again = outcomes.length;
  await replay(true);
  await eventually(() => outcomes.length >= again + 5, { what: 'the recomputed decisions' });
  expect(modelCalls).toBe(10);
  const { rows: twice } = await admin.query<{ calls: string }>(
    'select sum(calls) as calls from agent_side_effects where agent = $1',
    [NAME],
  );
  expect(twice[0]?.calls).toBe('10');
});

test('the kill switch: a paused agent consumes nothing and keeps its checkpoint; resumed, it goes on', async () => {
  const ops = await Ops.connect(resolveConfig({ databaseUrl: db.url() }));
  stops.push(() => ops.close());
  const agent = running.pricing!;
  await ops.setAgentPaused(NAME, true, 'alice', 'misbehaving');
  await eventually(() => agent.paused, { what: 'the agent paused' });
  const handled = outcomes.length;
  const publisher = running.publisher!;
  await publisher.publish(
    'accord.commerce.OrderPlaced',
    { orderId: 'o-paused', customerId: 'c-1', lines: [], totalCents: 1001, currency: 'EUR' },
    { entityId: 'o-paused', topic: orders },
  );
  // Published, not consumed: the group's lag shows the event waiting.
  await eventually(async () => (await ops.lag({ group: GROUP })).reduce((n, r) => n + r.lag, 0) === 1, {
    what: 'the paused group lagging by the one event',
  });
  expect(outcomes.length).toBe(handled);
  expect(await ops.agentControl(NAME)).toMatchObject({
    paused: true,
    reason: 'misbehaving',
    changedBy: 'alice',
  });
  await ops.setAgentPaused(NAME, false, 'alice');
  await eventually(() => outcomes.some((o) => o.orderId === 'o-paused'), {
    what: 'the event handled after resume',
  });
  expect(agent.paused).toBe(false);
});

test('an agent that cannot meet its freshness objective refuses to decide, and says so', async () => {
  const views = [orderCount()];
  const refuserAccord = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url(`accord_agent_${REFUSER}`),
  });
  let proposed = 0;
  const agent = createAgent(
    refuserAccord,
    defineAgent({
      name: REFUSER,
      consumes: [orders],
      reads: { features: ['order_count'] },
      proposes: ['order'],
      freshness: { order_count: 0 }, // any staleness is too much
      async handle(event, ctx) {
        await ctx.features.get('customer', event.data.customerId as string, ['order_count']);
        proposed++;
      },
    }),
    { views, group: REFUSER_GROUP, featurePrefix: prefix },
  );
  stops.push(async () => {
    await agent.stop();
    await refuserAccord.close();
  });
  await agent.start();
  const rows = await eventually(
    async () => {
      const { rows } = await admin.query<{ feature: string; objective_ms: string; reason: string }>(
        'select feature, objective_ms, reason from agent_refusals where agent = $1',
        [REFUSER],
      );
      return rows.length >= 5 ? rows : undefined;
    },
    { what: 'five refusals' },
  );
  expect(proposed).toBe(0);
  for (const r of rows) {
    expect(r).toMatchObject({ feature: 'order_count', objective_ms: '0' });
    expect(r.reason).toMatch(/^staleness \d+ ms exceeds the objective of 0 ms$/);
  }
  // Refused events are handled (not dead-lettered): the group moves past them.
  const ops = await Ops.connect(resolveConfig({ databaseUrl: db.url() }));
  try {
    await eventually(async () => (await ops.lag({ group: REFUSER_GROUP })).every((r) => r.lag === 0));
  } finally {
    await ops.close();
  }
});
