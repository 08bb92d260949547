/**
 * Observability as an operator meets it, on the real stack with real processes: an agent deployed with
 * `accord deploy` (its supervisor and replica), the order owner and the archive as services, all
 * exporting OpenTelemetry over OTLP/HTTP to a collector this test runs. One order's trace spans every
 * service it touched (with the driver-level spans of pg and kafkajs under Accord's own); the services'
 * /metrics show the decisions; `accord trace` prints the lineage. Then the web console, in Debian's
 * chromium driven by playwright-core: charts drawn from real data, the lineage view, a dead letter
 * replayed and an escalation accepted by clicking, escaped user data, a clear 404; screenshots saved.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createAccord,
  createPgPool,
  grantCheckpointGroups,
  type OpenTelemetry,
  resolveConfig,
  startOpenTelemetry,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { type Browser, chromium } from 'playwright-core';
import { accord, freePort, logLines, ROOT, startService } from './cli';

jest.setTimeout(240000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const prefix = ctx.redisPrefix();
const agentsDir = mkdtempSync(join(tmpdir(), 'accord-agents-'));
const manifests = mkdtempSync(join(tmpdir(), 'accord-manifests-'));
const screenshots = process.env.ACCORD_SCREENSHOTS_DIR ?? join(ROOT, '.accord', 'screenshots');
const AGENT = 't_observed';
const stops: (() => Promise<void>)[] = [];
const topics = { orders: '', proposals: '', decisions: '' };
let collector: Server;
let collectorUrl = '';
let otel: OpenTelemetry;
const checkoutSpans = new InMemorySpanExporter();
let ownerMetricsPort = 0;

/** What the collector received: one row per span, with its service and instrumentation scope. */
interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
  /** Span ids it links to. */
  links: string[];
}
const received: ReceivedSpan[] = [];
const hex = (id: string | undefined) =>
  !id ? '' : /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
const anyValue = (v: AnyValue) => v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
const attributes = (list: { key: string; value: AnyValue }[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, anyValue(a.value)]));

const env = () => ({
  DATABASE_URL: db.url(),
  ACCORD_AGENTS_DIR: agentsDir,
  ACCORD_LOG_LEVEL: 'info',
  OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
  OTEL_BSP_SCHEDULE_DELAY: '200',
  ACCORD_USER: 'e2e-operator',
});
const cli = (args: string[]) => accord(args, env());

/** A service with the test's environment (and the collector as its OTLP endpoint). */
const service = (main: string, args: string[], extraEnv: Record<string, string> = {}) =>
  startService(main, args, { ...env(), ...extraEnv }, stops);

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const data = JSON.parse(body) as {
          resourceSpans: {
            resource: { attributes: { key: string; value: AnyValue }[] };
            scopeSpans: {
              scope: { name: string };
              spans: {
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                name: string;
                attributes?: { key: string; value: AnyValue }[];
                links?: { spanId: string }[];
              }[];
            }[];
          }[];
        };
        for (const rs of data.resourceSpans) {
          const service = String(attributes(rs.resource.attributes)['service.name']);
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans)
              received.push({
                service,
                scope: ss.scope.name,
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                name: s.name,
                attributes: attributes(s.attributes),
                links: (s.links ?? []).map((l) => hex(l.spanId)),
              });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  // This test is the checkout service: its publish span starts the trace. (Its spans are kept in memory:
  // the OTLP exporter loads its transport with a dynamic import, which jest's VM does not allow.)
  otel = startOpenTelemetry({ serviceName: 'checkout', spanExporters: [checkoutSpans], env: {} });
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  topics.orders = await ctx.createTopic({ partitions: 2 });
  topics.proposals = await ctx.createTopic({ partitions: 2 });
  topics.decisions = await ctx.createTopic({ partitions: 1 });
  const ownerGroup = uniqueName('t-owner');
  await grantCheckpointGroups(admin, 'accord_owner_order', [ownerGroup]);
  const { output: ownerLog } = await service(
    'services/owners/dist/main.js',
    [
      '--entity',
      'order',
      '--topic',
      topics.proposals,
      '--group',
      ownerGroup,
      '--events-topic',
      topics.decisions,
    ],
    { ACCORD_METRICS_PORT: '0' },
  );
  ownerMetricsPort = Number(logLines(ownerLog).find((l) => l.msg === 'running')?.metricsPort);
  await service('services/archive/dist/main.js', [
    '--group',
    uniqueName('t-archive'),
    '--topics',
    `^(${topics.orders}|${topics.decisions})$`,
  ]);
  process.env.T_ORDERS_TOPIC = topics.orders;
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const { views } = require(join(ROOT, 'test/fixtures/agents/views.js'));
  await system.features({ views, prefix, group: uniqueName('t-features') }).start();
  const manifest = join(manifests, 'observed.yaml');
  writeFileSync(
    manifest,
    `name: ${AGENT}
entry: ${join(ROOT, 'test/fixtures/agents/observed.js')}
views: ${join(ROOT, 'test/fixtures/agents/views.js')}
consumes: [{ topic: ${topics.orders}, from: earliest }]
proposes: [order]
proposalTopics: { order: ${topics.proposals} }
reads: { features: [order_count] }
env:
  T_ORDERS_TOPIC: ${topics.orders}
  ACCORD_FEATURE_PREFIX: "${prefix}"
`,
  );
  const deployed = await cli(['deploy', manifest]);
  expect(deployed.stderr).toBe('');
  expect(deployed.stdout).toContain(`${AGENT}: 1 replica(s) ready`);
  // Paused until the features of the orders to come are computed: the lineage then shows their staleness.
  expect((await cli(['pause', AGENT, '--reason', 'waiting for features'])).code).toBe(0);
});

afterAll(async () => {
  await cli(['stop', AGENT]);
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await otel?.shutdown();
  await new Promise<void>((r) => collector.close(() => r()));
  const kafka = await ctx.kafkaAdmin();
  await kafka.deleteTopics({ topics: [`agent-${AGENT}.dlq`] }).catch(() => {});
  await admin.query('delete from checkpoint_grants').catch(() => {});
  await admin.end();
  await ctx.cleanup();
});

const decisionOf = async (orderId: string, outcome: string) =>
  (
    await admin.query<{ decision_id: string }>(
      'select decision_id from order_decisions where entity_id = $1 and outcome = $2 order by decided_at limit 1',
      [orderId, outcome],
    )
  ).rows[0]?.decision_id;

const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const metric = (text: string, line: RegExp) =>
  Number(
    text
      .split('\n')
      .find((l) => line.test(l))
      ?.split(' ')
      .pop(),
  );

test('one trace across checkout, agent, owner and archive; /metrics per service; accord trace prints the lineage', async () => {
  const checkout = createAccord({ catalog: referenceCatalog });
  stops.push(() => checkout.close());
  const publisher = checkout.publisher({ producer: 'checkout', autoRegister: true });
  const orders: [string, string, number][] = [
    ['o-1', 'c-1', 1005], // 5%: accepted
    ['o-2', 'c-1', 1040], // 40%: escalated
    ['o-3', 'c-2', 1060], // 60%: rejected
    ['o-4', 'c-2', 1077], // a second, stale proposal: a conflict
    ['o-5', '<img src=x onerror=alert(1)>', 1005], // user data that must stay text in the console
    ['o-poison', 'c-3', 1005], // a dead letter
  ];
  for (const [orderId, customerId, totalCents] of orders)
    await publisher.publish(
      'accord.commerce.OrderPlaced',
      { orderId, customerId, lines: [], totalCents, currency: 'EUR' },
      { entityId: orderId, topic: topics.orders },
    );
  const { views } = require(join(ROOT, 'test/fixtures/agents/views.js'));
  const reader = checkout.featureReader({ views, prefix });
  await eventually(
    async () => {
      const f = (await reader.get('customer', 'c-3', ['order_count'])).order_count;
      const g = (await reader.get('customer', 'c-1', ['order_count'])).order_count;
      return f && g && !('missing' in f) && !('missing' in g) && g.value === 2;
    },
    { what: 'the order counts computed' },
  );
  expect((await cli(['resume', AGENT])).code).toBe(0);
  await eventually(
    async () =>
      (await admin.query('select count(*)::int as n from order_decisions')).rows[0]?.n === 6 &&
      (await admin.query(`select 1 from agent_runs where event_id is not null and outcome = 'failed'`))
        .rowCount === 1,
    { timeoutMs: 90000, what: 'six decisions and the poisoned order failed' },
  );
  const accepted = await decisionOf('o-1', 'ACCEPTED');
  expect(accepted).toBeDefined();

  // The trace: the checkout's publish span is the root; agent, owner and archive are in it.
  await otel.forceFlush();
  const decide = await eventually(
    () => received.find((s) => s.name === 'order decide' && s.attributes['accord.decision.id'] === accepted),
    { timeoutMs: 30000, what: 'the decide span exported by the owner service' },
  );
  await eventually(
    () =>
      received.some(
        (s) =>
          s.traceId === decide.traceId &&
          s.service === 'archive' &&
          s.attributes['accord.event.id'] === accepted,
      ),
    { timeoutMs: 30000, what: () => `the archive's span of the decision event in trace ${decide.traceId}` },
  );
  for (const s of checkoutSpans.getFinishedSpans())
    received.push({
      service: 'checkout',
      scope: s.instrumentationScope.name,
      traceId: s.spanContext().traceId,
      spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext?.spanId ?? '',
      name: s.name,
      attributes: s.attributes,
      links: s.links.map((l) => l.context.spanId),
    });
  const trace = received.filter((s) => s.traceId === decide.traceId);
  const services = new Set(trace.map((s) => s.service));
  expect([...services].sort()).toEqual(['agent-t_observed', 'archive', 'checkout', 'owner-order']);
  const root = trace.find((s) => !s.parentSpanId);
  expect(root).toMatchObject({ service: 'checkout', name: 'accord.commerce.OrderPlaced publish' });
  expect(trace.find((s) => s.name === `agent ${AGENT} handle`)?.attributes['accord.entity.id']).toBe('o-1');
  expect(decide.service).toBe('owner-order');
  // Every span's parent is in the trace: one tree, no orphan.
  const ids = new Set(trace.map((s) => s.spanId));
  expect(trace.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId))).toEqual([]);
  // Driver-level spans from OpenTelemetry's instrumentations, under Accord's own: the owner's statements
  // under the span of the chunk its proposal was decided in (in the trace, or linked to it when the chunk
  // held several proposals).
  const chunk = received.find(
    (s) =>
      s.service === 'owner-order' &&
      s.name === 'order decide chunk' &&
      (s.traceId === decide.traceId || s.links.includes(decide.parentSpanId)),
  );
  expect(chunk?.attributes['accord.chunk.proposals']).toBeGreaterThanOrEqual(1);
  expect(
    received.some((s) => s.scope === '@opentelemetry/instrumentation-pg' && s.parentSpanId === chunk?.spanId),
  ).toBe(true);
  // The kafkajs instrumentation's producer spans (`send <topic>`), but none of its consumer spans (`poll
  // <topic>`, `process <topic>`): a
  // pipeline makes its batches' `receive` and records' `process` spans itself, and skips the driver's
  // copies (pipelines/clients.ts, withoutDriverSpans).
  const driver = received.filter((s) => s.scope === '@opentelemetry/instrumentation-kafkajs');
  expect(driver.some((s) => s.name.startsWith('send '))).toBe(true);
  expect(driver.filter((s) => /^(process|poll) /.test(s.name)).map((s) => s.name)).toEqual([]);

  // Metrics per service: the owner on ACCORD_METRICS_PORT, the agent replica on its health port.
  const ownerMetrics = await scrape(ownerMetricsPort);
  expect(metric(ownerMetrics, /^accord_decisions_total\{.*outcome="ESCALATED"/)).toBe(1);
  expect(metric(ownerMetrics, /^accord_decisions_total\{.*outcome="ACCEPTED"/)).toBe(3);
  expect(metric(ownerMetrics, /^accord_conflicts_total\{/)).toBe(1);
  const ps = JSON.parse((await cli(['ps', '--json'])).stdout) as { agent: string; healthPorts: number[] }[];
  const port = ps.find((r) => r.agent === AGENT)?.healthPorts[0];
  const agentMetrics = await scrape(Number(port));
  expect(metric(agentMetrics, /^accord_agent_decision_latency_count\{agent="t_observed"/)).toBe(5);
  expect(metric(agentMetrics, /^accord_dead_letters_total\{/)).toBe(1);

  // The lineage of the accepted decision, as text and as JSON; an unknown id is a clear not-found.
  const text = await cli(['trace', accepted!]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`Lineage of decision ${accepted}`);
  expect(text.stdout).toMatch(/accord\.commerce\.OrderPlaced \S+ {2}order o-1 {2}by checkout/);
  expect(text.stdout).toMatch(/read customer c-1 order_count = \d+ {2}staleness \d+ ms/);
  expect(text.stdout).toContain(`decision ${accepted}: ACCEPTED by owner-order`);
  expect(text.stdout).toContain(`accord.platform.Decision ${accepted}`);
  const json = JSON.parse((await cli(['trace', accepted!, '--json'])).stdout);
  expect(json).toMatchObject({
    found: 'decision',
    traceIds: [decide.traceId],
    proposals: [
      { entityId: 'o-1', decision: { decisionId: accepted, outcome: 'ACCEPTED', versionAfter: 1 } },
    ],
  });
  const unknown = await cli(['trace', 'no-such-id']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('no event, proposal or decision has id "no-such-id"');
  expect(unknown.stderr).toContain('[NOT_FOUND]');
});

test('the console in a browser: charts of real data, lineage, a dead letter replayed, an escalation accepted', async () => {
  mkdirSync(screenshots, { recursive: true });
  const child = spawn('bash', [join(ROOT, 'scripts', 'accord'), 'console', '--port', '0'], {
    env: { ...process.env, ...env() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  stops.push(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  const base = await eventually(() => /on (http:\/\/\S+)\//.exec(output.join(''))?.[1], {
    timeoutMs: 60000,
    what: () => `the console listening (${output.join('')})`,
  });
  const browser: Browser = await chromium.launch({
    executablePath: process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  stops.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const alerts: string[] = [];
  page.on('dialog', async (d) => {
    alerts.push(d.message());
    await d.dismiss();
  });
  const { rows } = await admin.query<{ outcome: string; n: number }>(
    'select outcome, count(*)::int as n from order_decisions group by 1',
  );
  const count = (o: string) => rows.find((r) => r.outcome === o)?.n ?? 0;

  // Fleet: the agent, the objectives, and the charts drawn from the decisions in Postgres.
  await page.goto(`${base}/`);
  await page.waitForSelector('canvas[data-chart="decisions"][data-rendered="true"]');
  expect(await page.textContent('table')).toContain(AGENT);
  // What Chart.js drew, read back from the page's chart object.
  const drawn = await page.evaluate(() => {
    const g = globalThis as unknown as {
      document: { querySelector(s: string): unknown };
      Chart: { getChart(c: unknown): { data: { datasets: { label: string; data: number[] }[] } } };
    };
    const chart = g.Chart.getChart(g.document.querySelector('canvas[data-chart="decisions"]'));
    return chart.data.datasets.map((d) => [d.label, d.data.reduce((a, b) => a + (b ?? 0), 0)]);
  });
  expect(drawn).toEqual([
    ['accepted', count('ACCEPTED')],
    ['rejected', count('REJECTED')],
    ['escalated', count('ESCALATED')],
  ]);
  expect(await page.locator('canvas[data-rendered="true"]').count()).toBe(7);
  await page.screenshot({ path: join(screenshots, 'console-fleet.png'), fullPage: true });

  // Conflicts → lineage of the stale proposal's decision.
  await page.click('nav >> text=Conflicts');
  await page.click('tr.conflict >> text=lineage');
  await page.waitForSelector('#proposals');
  expect(await page.textContent('#proposals')).toContain('REJECTED');
  expect(await page.textContent('#proposals')).toContain('stale: expected version 0');

  // The lineage view of the accepted decision: trigger, features with staleness, decision and rule.
  const accepted = await decisionOf('o-1', 'ACCEPTED');
  await page.goto(`${base}/trace/${accepted}`);
  expect(await page.textContent('#trigger')).toContain('accord.commerce.OrderPlaced');
  expect(await page.textContent('section.agent')).toContain('order_count');
  expect(await page.textContent('#proposals')).toContain('ACCEPTED');
  expect(await page.textContent('#followed')).toContain('accord.platform.Decision');
  await page.screenshot({ path: join(screenshots, 'console-lineage.png'), fullPage: true });

  // User data is shown as text: the customer id with markup is escaped, no element, no alert.
  const o5 = await decisionOf('o-5', 'ACCEPTED');
  await page.goto(`${base}/trace/${o5}`);
  expect(await page.textContent('section.agent')).toContain('<img src=x onerror=alert(1)>');
  expect(await page.locator('main img').count()).toBe(0);

  // An unknown id: a 404 page that says so.
  const missing = await page.goto(`${base}/trace/no-such-id`);
  expect(missing?.status()).toBe(404);
  expect(await page.textContent('main')).toContain('no event, proposal or decision has id "no-such-id"');

  // A dead letter: open its group and replay it; the agent fails it again, so a second one appears.
  await page.goto(`${base}/dead-letters`);
  await page.click(`text=agent-${AGENT}`);
  await page.waitForSelector('tr.letter');
  expect(await page.textContent('tr.letter')).toContain('o-poison cannot be priced');
  await page.screenshot({ path: join(screenshots, 'console-dead-letters.png'), fullPage: true });
  await page.click('tr.letter >> button:has-text("Replay")');
  expect(await page.textContent('.flash')).toContain(
    `replayed dead letter 0 of agent-${AGENT} (by e2e-operator)`,
  );
  expect(await page.textContent('tr.letter')).toContain('replayed');
  await eventually(
    async () => {
      await page.reload();
      return (await page.locator('tr.letter').count()) === 2;
    },
    { timeoutMs: 60000, what: 'the replayed letter dead-lettered again' },
  );

  // An escalation: a reason is required, then Accept; the owner applies it.
  await page.goto(`${base}/escalations`);
  const row = page.locator('tr.escalation', { hasText: 'order o-2' });
  await row.locator('input[name=reason]').fill('approved by the e2e operator');
  await page.screenshot({ path: join(screenshots, 'console-escalations.png'), fullPage: true });
  await row.locator('button:has-text("Accept")').click();
  await page.waitForSelector('.flash');
  expect(await page.textContent('.flash')).toMatch(/escalation #\d+ \(order o-2\): ACCEPTED by e2e-operator/);
  const { rows: o2 } = await admin.query<{ version: string; state: { discountPercent: number } }>(
    `select version, state from order_entities where entity_id = 'o-2'`,
  );
  expect(o2[0]?.state.discountPercent).toBe(40);
  expect(alerts).toEqual([]);
});

test('a collector that refuses connections: the service archives on, drops its spans and counts them', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const dead = await freePort();
  const archive = await service(
    'services/archive/dist/main.js',
    ['--group', uniqueName('t-archive'), '--topics', `^${topic}$`],
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ACCORD_METRICS_PORT: '0',
    },
  );
  const port = Number(logLines(archive.output).find((l) => l.msg === 'running')?.metricsPort);
  const system = createAccord({ catalog: referenceCatalog });
  stops.push(() => system.close());
  const publisher = system.publisher({ producer: 'checkout', autoRegister: true });
  for (const orderId of ['d-1', 'd-2', 'd-3'])
    await publisher.publish(
      'accord.commerce.OrderPlaced',
      { orderId, customerId: 'c', lines: [], totalCents: 1, currency: 'EUR' },
      { entityId: orderId, topic },
    );
  await eventually(
    async () => (await admin.query('select 1 from event_archive where topic = $1', [topic])).rowCount === 3,
    { what: 'three events archived' },
  );
  await eventually(async () => metric(await scrape(port), /^accord_telemetry_dropped_total\{/) > 0, {
    timeoutMs: 30000,
    what: 'accord_telemetry_dropped_total on the archive /metrics',
  });
  await archive.stop();
  const lines = logLines(archive.output);
  const dropped = lines.find((l) => l.msg === 'telemetry the collector did not take was dropped');
  expect(Number(dropped?.dropped)).toBeGreaterThan(0);
  expect(String(dropped?.reason)).toMatch(/ECONNREFUSED|connect/i);
  expect(lines.at(-1)?.msg).toBe('stopped');
});
