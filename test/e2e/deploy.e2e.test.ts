/**
 * Agents as users deploy them: a two-agent manifest set and the reference owners. `accord deploy --plan`
 * says what will change; `accord deploy` starts both (two replicas and one) under the local supervisor;
 * deploying again changes nothing. Both agents consume, read features with their staleness, propose and
 * get pushed decisions; a killed replica is restarted and its group resumes from the checkpoint; a new
 * version rolls the replicas one at a time; no event is lost and none decided twice; `accord ps` reports
 * all of it; `accord stop` stops them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import {
  createAccord,
  createPgPool,
  grantCheckpointGroups,
  propose,
  resolveConfig,
  SERVICE_NODE_FLAGS,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { accord, grantService, logLines, ROOT } from './cli';

jest.setTimeout(600000);

const config = resolveConfig();
const ctx = new TestContext(config);
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const prefix = ctx.redisPrefix();
const agentsDir = mkdtempSync(join(tmpdir(), 'accord-agents-'));
const manifests = mkdtempSync(join(tmpdir(), 'accord-manifests-'));
const stops: (() => Promise<void>)[] = [];
const topics = { orders: '', orderProposals: '', customerProposals: '' };
let decisionsTopic = '';
const env = () => ({ DATABASE_URL: db.url(), ACCORD_AGENTS_DIR: agentsDir, ACCORD_LOG_LEVEL: 'info' });
const cli = (args: string[]) => accord(args, env());

function manifest(name: string, body: string): string {
  const file = join(manifests, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

const pricingManifest = (version: number) =>
  manifest(
    `pricing-v${version}`,
    `name: t_deploy_pricing
version: ${version}
entry: ${join(ROOT, 'test/fixtures/agents/pricing.js')}
views: ${join(ROOT, 'test/fixtures/agents/views.js')}
replicas: 2
consumes:
  - topic: ${topics.orders}
    from: earliest
proposes: [order]
proposalTopics:
  order: ${topics.orderProposals}
reads:
  features: [order_count]
env:
  T_ORDERS_TOPIC: ${topics.orders}
  ACCORD_FEATURE_PREFIX: "${prefix}"
`,
  );

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  topics.orders = await ctx.createTopic({ partitions: 3 });
  topics.orderProposals = await ctx.createTopic({ partitions: 2 });
  topics.customerProposals = await ctx.createTopic({ partitions: 2 });
  // The owners run as services (services/owners), each as its own role, as a user runs them.
  decisionsTopic = await ctx.createTopic({ partitions: 1 });
  const decisions = decisionsTopic;
  for (const [entity, topic] of [
    ['order', topics.orderProposals],
    ['customer', topics.customerProposals],
  ] as const) {
    const group = uniqueName('t-owner');
    await grantCheckpointGroups(admin, `accord_owner_${entity}`, [group]);
    const args = ['--entity', entity, '--topic', topic, '--group', group, '--events-topic', decisions];
    await grantService('services/owners/dist/main.js', args, env());
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=TimeoutNegativeWarning',
        join(ROOT, 'services/owners/dist/main.js'),
        '--entity',
        entity,
        '--topic',
        topic,
        '--group',
        group,
        '--events-topic',
        decisions,
      ],
      { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    stops.push(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    });
    await eventually(() => logLines(output).some((l) => l.msg === 'running' && l.entity === entity), {
      timeoutMs: 60000,
      what: () => `the ${entity} owner service running (${output.join('')})`,
    });
  }
  process.env.T_ORDERS_TOPIC = topics.orders;
  const system = createAccord({ catalog: referenceCatalog, databaseUrl: db.url() });
  stops.push(() => system.close());
  const { views } = require(join(ROOT, 'test/fixtures/agents/views.js'));
  await system.features({ views, prefix, group: uniqueName('t-features') }).start();
});

afterAll(async () => {
  await cli(['stop', 't_deploy_pricing', 't_deploy_risk']);
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin.query('delete from checkpoint_grants').catch(() => {});
  await admin.end();
  await ctx.cleanup();
});

const publisher = () => {
  const a = createAccord({ catalog: referenceCatalog });
  stops.push(() => a.close());
  return a.publisher({ producer: 'checkout', autoRegister: true });
};

async function placeOrders(from: number, count: number): Promise<void> {
  const p = publisher();
  await p.publishMany(
    Array.from({ length: count }, (_, i) => ({
      type: 'accord.commerce.OrderPlaced' as const,
      data: {
        orderId: `o-${from + i}`,
        customerId: `c-${(from + i) % 3}`,
        lines: [],
        totalCents: 1000,
        currency: 'EUR',
      },
      options: { entityId: `o-${from + i}`, topic: topics.orders },
    })),
  );
}

async function decided(table: 'order_decisions' | 'customer_decisions', agent: string): Promise<number> {
  const { rows } = await admin.query<{ n: string; ids: string }>(
    `select count(*) as n, count(distinct proposal_id) as ids from ${table} where agent = $1`,
    [agent],
  );
  // Never two decisions on one proposal: a redelivered or replayed event re-sends the same proposal.
  expect(rows[0]?.n).toBe(rows[0]?.ids);
  return Number(rows[0]?.n);
}

interface PsRow {
  agent: string;
  version: string | null;
  status: string;
  replicas: { running: number; desired: number; ready: number };
  restarts: number;
  lag: number;
  paused: boolean;
  lastDecision: { outcome: string; entityType: string } | null;
}
async function ps(): Promise<PsRow[]> {
  const result = await cli(['ps', '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as PsRow[];
}

test('deploy two agents, consume, decide, survive a killed replica, roll a new version, report, stop', async () => {
  const risk = manifest(
    'risk',
    `name: t_deploy_risk
entry: ${join(ROOT, 'test/fixtures/agents/risk.js')}
consumes: [{ topic: ${topics.orders} }]
proposes: [customer]
proposalTopics: { customer: ${topics.customerProposals} }
`,
  );
  const pricing = pricingManifest(1);

  const plan = await cli(['deploy', pricing, risk, '--plan']);
  expect(plan).toMatchObject({ code: 0, stderr: '' });
  expect(plan.stdout).toContain(
    `t_deploy_pricing: would start group agent-t_deploy_pricing on ${topics.orders} from earliest`,
  );
  expect(plan.stdout).toContain('t_deploy_pricing: would create role accord_agent_t_deploy_pricing');
  expect(plan.stdout).toContain('t_deploy_pricing: would start 2 replica(s) of t_deploy_pricing v1');
  expect(plan.stdout).toContain('t_deploy_risk: would start 1 replica(s) of t_deploy_risk');

  const first = await cli(['deploy', pricing, risk]);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toContain('t_deploy_pricing: 2 replica(s) ready (v1)');
  expect(first.stdout).toContain('t_deploy_risk: 1 replica(s) ready');
  const again = await cli(['deploy', pricing, risk]);
  expect(again).toMatchObject({ code: 0, stdout: 't_deploy_pricing: unchanged\nt_deploy_risk: unchanged\n' });

  await placeOrders(0, 12);
  await eventually(async () => (await decided('order_decisions', 't_deploy_pricing')) === 12, {
    timeoutMs: 120000,
    what: '12 pricing decisions',
  });
  await eventually(async () => (await decided('customer_decisions', 't_deploy_risk')) === 12, {
    timeoutMs: 120000,
    what: '12 risk decisions',
  });
  // What pricing read is audited with each proposal: the feature with its staleness (or why it is missing).
  const { rows: contexts } = await admin.query<{ context: { order_count: Record<string, unknown> } }>(
    `select context from order_proposals where agent = 't_deploy_pricing'`,
  );
  for (const { context } of contexts)
    expect(Object.keys(context.order_count)).toEqual(
      expect.arrayContaining(['staleness' in context.order_count ? 'staleness' : 'reason']),
    );
  const running = await ps();
  expect(running.find((r) => r.agent === 't_deploy_pricing')).toMatchObject({
    version: '1',
    status: 'running',
    replicas: { running: 2, desired: 2, ready: 2 },
    lag: 0,
    paused: false,
    lastDecision: { outcome: 'ACCEPTED', entityType: 'order' },
  });
  expect(running.find((r) => r.agent === 't_deploy_risk')).toMatchObject({
    replicas: { running: 1, desired: 1, ready: 1 },
    lastDecision: { outcome: 'ACCEPTED', entityType: 'customer' },
  });

  // A replica killed outright is restarted by its supervisor; the group goes on from its checkpoints.
  const state = JSON.parse(readFileSync(join(agentsDir, 't_deploy_pricing', 'state.json'), 'utf8'));
  // Replicas run with the service profile's V8 flags (bounded memory, service-profile.ts).
  const cmdline = readFileSync(`/proc/${state.replicas[0].pid}/cmdline`, 'utf8').split('\0');
  expect(cmdline).toEqual(expect.arrayContaining([...SERVICE_NODE_FLAGS, 'agent', 'run']));
  process.kill(state.replicas[0].pid, 'SIGKILL');
  await eventually(
    async () => {
      const row = (await ps()).find((r) => r.agent === 't_deploy_pricing');
      return row && row.restarts >= 1 && row.replicas.ready === 2;
    },
    { timeoutMs: 120000, what: 'the killed replica restarted and ready' },
  );
  await placeOrders(12, 6);
  await eventually(async () => (await decided('order_decisions', 't_deploy_pricing')) === 18, {
    timeoutMs: 120000,
    what: '18 pricing decisions after the restart',
  });

  // Version 2 rolls the replicas one at a time; events published meanwhile are all decided, once.
  const rolling = cli(['deploy', pricingManifest(2)]);
  await placeOrders(18, 6);
  const rolled = await rolling;
  expect(rolled.stderr).toBe('');
  expect(rolled.stdout).toContain('t_deploy_pricing: rolling update of t_deploy_pricing v1 → v2');
  expect(rolled.stdout).toContain('t_deploy_pricing: 2 replica(s) ready (v2)');
  await eventually(async () => (await decided('order_decisions', 't_deploy_pricing')) === 24, {
    timeoutMs: 120000,
    what: '24 pricing decisions after the rolling update',
  });
  expect((await ps()).find((r) => r.agent === 't_deploy_pricing')).toMatchObject({ version: '2', lag: 0 });
  const logs = await cli(['logs', 't_deploy_pricing', '--lines', '500']);
  expect(logs.stdout).toContain('==> t_deploy_pricing replica 0 <==');
  expect(logs.stdout).toMatch(/"msg":"decided"/);

  // The kill switch, from the CLI: ps says so, with the reason; resumed, it is ready again.
  const paused = await cli(['pause', 't_deploy_risk', '--reason', 'flagging too much']);
  expect(paused.stdout).toMatch(/^t_deploy_risk: paused fleet-wide by \S+ at \S+ \(flagging too much\)\n$/);
  await eventually(
    async () => {
      const row = (await ps()).find((r) => r.agent === 't_deploy_risk');
      return row?.paused === true && row.replicas.ready === 0;
    },
    { what: 'risk paused (not ready) in ps' },
  );
  expect((await cli(['ps'])).stdout).toMatch(/t_deploy_risk\s+-\s+PAUSED \(flagging too much\)/);
  await cli(['resume', 't_deploy_risk']);
  await eventually(
    async () => {
      const row = (await ps()).find((r) => r.agent === 't_deploy_risk');
      return row?.paused === false && row.replicas.ready === 1;
    },
    { what: 'risk resumed and ready' },
  );

  // An owner escalates what its rules do not allow agents; an operator resolves it from the CLI.
  const asker = createAccord({ catalog: referenceCatalog });
  stops.push(() => asker.close());
  await propose(
    asker.publisher({ producer: 'pricing' }),
    'order',
    'o-0',
    'discount',
    { discountPercent: 40 },
    {
      agent: 'pricing',
      topic: topics.orderProposals,
    },
  );
  const listed = await eventually(
    async () => {
      const list = await cli(['escalations', 'list', '--entity-type', 'order', '--json']);
      const open = JSON.parse(list.stdout) as { id: number; entityId: string; change: unknown }[];
      return open.find((e) => e.entityId === 'o-0');
    },
    { what: 'the escalated discount listed' },
  );
  expect(listed.change).toEqual({ discountPercent: 40 });
  const resolved = await cli([
    'escalations',
    'resolve',
    String(listed.id),
    '--accept',
    '--reason',
    'loyal customer',
  ]);
  expect(resolved.code).toBe(0);
  expect(resolved.stdout).toMatch(
    new RegExp(
      `^escalation #${listed.id} \\(order o-0\\): ACCEPTED \\(version \\d+\\): operator:\\S+ accepted escalation #${listed.id} \\(pricing discount\\): loyal customer\\n$`,
    ),
  );

  // The owner services relayed their decisions to the events topic they were given (never a shared one).
  const relayed = await eventually(
    async () => {
      const { rows } = await admin.query<{ n: string }>(
        `select count(*) as n from order_outbox where published_at is not null`,
      );
      return Number(rows[0]?.n) >= 24 ? Number(rows[0]?.n) : undefined;
    },
    { what: 'the order decisions relayed' },
  );
  const tailed = await cli(['tail', decisionsTopic, '--from', 'earliest', '--max', String(relayed)]);
  expect(tailed.stdout.trim().split('\n')).toHaveLength(relayed);

  const stopped = await cli(['stop', 't_deploy_pricing', 't_deploy_risk']);
  expect(stopped).toMatchObject({ code: 0, stdout: 't_deploy_pricing: stopped\nt_deploy_risk: stopped\n' });
  expect((await ps()).map((r) => r.status)).toEqual(['stopped', 'stopped']);
});

test('a bad manifest is refused with its file, line and field, and nothing is deployed', async () => {
  const bad = manifest('bad', 'name: t_deploy_bad\nentry: x.js\nreplicas: 0\nconsumes: [{ topic: t }]\n');
  const refused = await cli(['deploy', bad, pricingManifest(3), '--plan']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`${bad}:3: replicas: must be at least 1 (got 0)`);
  const missing = manifest(
    'missing',
    `name: t_deploy_missing\nentry: ${join(ROOT, 'test/fixtures/agents/risk.js')}\nconsumes: [{ topic: ${uniqueName('nowhere')} }]\n`,
  );
  const noTopic = await cli(['deploy', missing]);
  expect(noTopic.code).toBe(1);
  expect(noTopic.stderr).toMatch(
    /topic nowhere-\S+ does not exist and is not declared in infra\/kafka\/topics\.json/,
  );
  expect((await ps()).map((r) => r.agent)).not.toContain('t_deploy_missing');

  // An agent that emits an event whose schema here is incompatible with the registry's is refused.
  const schemas = mkdtempSync(join(tmpdir(), 'accord-schemas-'));
  cpSync(join(ROOT, 'schemas'), schemas, { recursive: true });
  const file = join(schemas, 'commerce', 'DiscountApproved.avsc');
  const changed = JSON.parse(readFileSync(file, 'utf8'));
  changed.fields.push({ name: 'approvedAt', type: 'long' }); // required, no default: old events cannot be read
  writeFileSync(file, JSON.stringify(changed));
  const emitter = manifest(
    'emitter',
    `name: t_deploy_emitter\nentry: ${join(ROOT, 'test/fixtures/agents/risk.js')}\nconsumes: [{ topic: ${topics.orders} }]\nemits: [DiscountApproved]\n`,
  );
  const incompatible = await accord(['deploy', emitter], { ...env(), ACCORD_SCHEMAS_DIR: schemas });
  expect(incompatible.code).toBe(1);
  expect(incompatible.stderr).toContain(
    "the schema of accord.commerce.DiscountApproved is incompatible with the registry's",
  );
  expect((await ps()).map((r) => r.agent)).not.toContain('t_deploy_emitter');
});
