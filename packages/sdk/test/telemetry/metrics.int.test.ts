/**
 * The coordination metrics on a Prometheus `/metrics` endpoint, from a scripted scenario on the real
 * stack with known answers: 100 proposals of which 3 expected a version their order had left (3 conflicts,
 * 3%); an agent handling 4 events (4 decision latencies); a handler that fails for good (1 dead letter);
 * and an exporter that fails every export (spans dropped and counted, nothing broken). A collector that
 * refuses connections is tested with a real service in test/e2e/observability.e2e.test.ts.
 */

import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  addAgentRole,
  awaitDecision,
  createAccord,
  createAgent,
  createPgPool,
  defineAgent,
  grantCheckpointGroups,
  type OpenTelemetry,
  propose,
  resolveConfig,
  startOpenTelemetry,
  TerminalError,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { ExportResultCode } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

jest.setTimeout(120000);

const ROOT = join(__dirname, '../../../..');
const ctx = new TestContext(resolveConfig());
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const AGENT = 't_metered';
const AGENT_GROUP = uniqueName('t-agent');
const OWNER_GROUP = uniqueName('t-owner');
let otel: OpenTelemetry;
let scrapeUrl: string;

/** An exporter whose backend is always down. */
const failing: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.FAILED, error: new Error('collector down') }),
  shutdown: async () => {},
};
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  otel = startOpenTelemetry({ serviceName: 'metrics-test', spanExporters: [failing], env: {} });
  scrapeUrl = `http://127.0.0.1:${await otel.serveMetrics(0)}/metrics`;
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

const scrape = async () => (await fetch(scrapeUrl)).text();

/** The value of one sample line (name and exact labels), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2]);
  }
  return undefined;
}

test('3 conflicts in 100 proposals is a 3% conflict rate on /metrics, with decisions by outcome', async () => {
  const proposals = await ctx.createTopic({ partitions: 3 });
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
  await owner.start();
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const publisher = system.publisher({ producer: 'script', autoRegister: true });
  const ids: string[] = [];
  // 97 first proposals (version 0 → 1), then 3 more on orders already at version 1 that still expect 0.
  for (let i = 0; i < 100; i++) {
    const orderId = `o-${i < 97 ? i : i - 97}`;
    ids.push(
      await propose(
        publisher,
        'order',
        orderId,
        'note',
        { n: i },
        {
          agent: 'script',
          expectedVersion: 0,
          topic: proposals,
        },
      ),
    );
  }
  const last = await awaitDecision(system.pool(), 'order', ids[99]!, 60_000);
  expect(last.outcome).toBe('REJECTED');
  let text = '';
  await eventually(
    async () => {
      text = await scrape();
      const decided = ['ACCEPTED', 'REJECTED'].map(
        (outcome) => sample(text, 'accord_decisions_total', { entity_type: 'order', outcome }) ?? 0,
      );
      return decided[0]! + decided[1]! === 100; // every partition's decisions committed and told
    },
    { what: () => `100 decisions on /metrics:\n${text.slice(0, 2000)}` },
  );
  expect(sample(text, 'accord_decisions_total', { entity_type: 'order', outcome: 'ACCEPTED' })).toBe(97);
  expect(sample(text, 'accord_decisions_total', { entity_type: 'order', outcome: 'REJECTED' })).toBe(3);
  expect(sample(text, 'accord_conflicts_total', { entity_type: 'order' })).toBe(3);
  expect(sample(text, 'accord_conflict_rate', { entity_type: 'order' })).toBeCloseTo(0.03, 10);
  expect(sample(text, 'accord_owner_decision_latency_count', { entity_type: 'order' })).toBe(100);
  // Lag per group and partition: the owner caught up on every partition.
  // (told after each batch: awaited, since the decisions are told at the checkpoint, inside the batch)
  await eventually(
    async () => {
      const now = await scrape();
      return ['0', '1', '2'].every(
        (partition) =>
          sample(now, 'accord_consumer_lag', { group: OWNER_GROUP, topic: proposals, partition }) === 0,
      );
    },
    { what: 'lag 0 on every partition of the proposals topic' },
  );
});

test('an agent reports its decision latency by outcome; a dead letter and dropped spans are counted', async () => {
  const orders = await ctx.createTopic({ partitions: 1 });
  const agentAccord = createAccord({
    catalog: referenceCatalog,
    databaseUrl: db.url(`accord_agent_${AGENT}`),
  });
  stops.push(() => agentAccord.close());
  const agent = createAgent(
    agentAccord,
    defineAgent({
      name: AGENT,
      consumes: [orders],
      async handle(event) {
        if (event.entityId === 'o-bad') throw new TerminalError('this order cannot be handled');
      },
    }),
    { group: AGENT_GROUP },
  );
  stops.push(() => agent.stop());
  await agent.start();
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const publisher = system.publisher({ producer: 'checkout', autoRegister: true });
  for (const orderId of ['o-a', 'o-b', 'o-c', 'o-d', 'o-bad'])
    await publisher.publish(
      'accord.commerce.OrderPlaced',
      { orderId, customerId: 'c', lines: [], totalCents: 1, currency: 'EUR' },
      { entityId: orderId, topic: orders },
    );
  let text = '';
  await eventually(
    async () => {
      text = await scrape();
      return sample(text, 'accord_dead_letters_total', { group: AGENT_GROUP }) === 1;
    },
    { what: () => `a dead letter on /metrics:\n${text.slice(0, 2000)}` },
  );
  expect(sample(text, 'accord_agent_events_total', { agent: AGENT, outcome: 'idle' })).toBe(4);
  expect(sample(text, 'accord_agent_events_total', { agent: AGENT, outcome: 'failed' })).toBe(1);
  expect(sample(text, 'accord_agent_decision_latency_count', { agent: AGENT })).toBe(4);
  expect(
    sample(text, 'accord_dead_letters_total', { group: AGENT_GROUP, error_code: 'PIPELINE_HANDLER_FAILED' }),
  ).toBe(1);
  // The exporter's backend is down: the spans of all this were dropped and counted, and nothing failed.
  await otel.forceFlush();
  expect(otel.dropped()).toBeGreaterThan(0);
  expect(otel.dropReason()).toBe('collector down');
  await eventually(
    async () => (sample(await scrape(), 'accord_telemetry_dropped_total', { signal: 'spans' }) ?? 0) > 0,
    {
      what: 'the dropped counter on /metrics',
    },
  );
});
