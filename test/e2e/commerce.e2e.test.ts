/**
 * The main job's commerce scenario, shortened, as the demo runs it: the archive, the feature service and
 * the four owners as services, the seven reference agents deployed from their manifests, the traffic that
 * provokes the three contradictions, and the independent auditor. Isolated in its own topic namespace
 * (ACCORD_TOPIC_NAMESPACE), Postgres schema and Redis prefix. Asserts: no contradiction gets through; every
 * provoked one is in the audit as a refused, escalated or compensated proposal; every event archived; every
 * pipeline caught up; the report's figures match a recount from the database.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgPool, grantCheckpointGroups, resolveConfig } from '@accord/sdk';
import { TestContext, uniqueName } from '@accord/testing';
import { accord, ROOT, startService } from './cli';

jest.setTimeout(360000);

const ctx = new TestContext(resolveConfig());
const db = ctx.database();
const admin = createPgPool(db.url(), { max: 2 });
const prefix = ctx.redisPrefix();
const ns = uniqueName('t-ns');
const agentsDir = mkdtempSync(join(tmpdir(), 'accord-agents-'));
const AGENTS = ['fulfillment', 'pricing', 'risk', 'support', 'billing', 'inventory', 'personalization'];
const OWNERS = ['order', 'payment', 'stock_item', 'customer'];
const stops: (() => Promise<void>)[] = [];
const env = () => ({
  DATABASE_URL: db.url(),
  ACCORD_TOPIC_NAMESPACE: ns,
  ACCORD_AGENTS_DIR: agentsDir,
  ACCORD_FEATURE_PREFIX: prefix,
  ACCORD_LOG_LEVEL: 'info',
});

const service = (main: string, args: string[]) => startService(main, args, env(), stops);

beforeAll(async () => {
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const kafka = await ctx.kafkaAdmin();
  const topics = OWNERS.flatMap((e) => [`${ns}.commerce.${e}.events`, `${ns}.commerce.${e}.proposals`]);
  await kafka.createTopics({
    waitForLeaders: true,
    topics: topics.map((topic) => ({ topic, numPartitions: 2 })),
  });
  ctx.onCleanup(async () => {
    const mine = (await kafka.listTopics()).filter((t) => t.startsWith(`${ns}.`));
    await kafka.deleteTopics({ topics: mine }).catch(() => {});
  });
  for (const e of OWNERS) await grantCheckpointGroups(admin, `accord_owner_${e}`, [`${ns}.owner-${e}`]);
  await service('services/archive/dist/main.js', ['--group', uniqueName('t-archive')]);
  await service('services/features/dist/main.js', ['--group', uniqueName('t-features'), '--prefix', prefix]);
  for (const e of OWNERS) await service('services/owners/dist/main.js', ['--entity', e]);
  const deployed = await accord(
    ['deploy', ...AGENTS.map((a) => join(ROOT, `packages/reference/manifests/commerce/${a}.yaml`))],
    env(),
  );
  expect(deployed.stderr).toBe('');
  expect(deployed.code).toBe(0);
  for (const a of AGENTS) expect(deployed.stdout).toMatch(new RegExp(`${a}: \\d replica\\(s\\) ready`));
});

afterAll(async () => {
  await accord(['stop', ...AGENTS], env());
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin.query('delete from checkpoint_grants').catch(() => {});
  await admin.end();
  await ctx.cleanup();
});

interface ReportJson {
  run: string;
  decisions: {
    total: number;
    accepted: number;
    rejected: number;
    escalated: number;
    conflicts: number;
    compensations: number;
  };
  agents: {
    agent: string;
    handled: number;
    decisions: { accepted: number; rejected: number; escalated: number };
  }[];
  lag: number;
  audit: {
    contradictions: unknown[];
    provoked: Record<string, { provoked: number; handled: number }>;
    events: { published: number; archived: number };
  };
}

test('the commerce scenario: contradictions provoked, none gets through, the report matches the database', async () => {
  const run = uniqueName('r').toLowerCase();
  const html = join(agentsDir, 'report.html');
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'services/commerce/dist/main.js'),
        ...['--duration', '20', '--rate', '8', '--seed', '7', '--customers', '8', '--skus', '6'],
        ...['--run', run, '--html', html, '--json', '--settle-timeout', '180'],
      ],
      { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  expect(result.stderr).toContain(`[commerce] run ${run}`);
  const report = JSON.parse(result.stdout) as ReportJson;
  expect({ code: result.code, contradictions: report.audit.contradictions }).toEqual({
    code: 0,
    contradictions: [],
  });
  expect(report.audit.events.archived).toBe(report.audit.events.published);
  expect(report.lag).toBe(0);
  // Each contradiction was provoked, and each provoked one shows in the audit as refused, escalated or compensated.
  for (const [kind, p] of Object.entries(report.audit.provoked)) {
    expect({ kind, provoked: p.provoked > 0 }).toEqual({ kind, provoked: true });
    expect({ kind, handled: p.handled }).toEqual({ kind, handled: p.provoked });
  }
  // The report's figures, recounted from the database.
  let total = 0;
  let conflicts = 0;
  let compensations = 0;
  const perAgent = new Map<string, number>();
  for (const e of OWNERS) {
    const { rows } = await admin.query<{
      agent: string;
      n: number;
      conflicts: number;
      compensations: number;
    }>(
      `select agent, count(*)::int as n, count(*) filter (where conflicting_version is not null)::int as conflicts,
              count(*) filter (where reason like 'compensates decision %')::int as compensations
         from ${e}_decisions where entity_id like $1 group by agent`,
      [`${run}-%`],
    );
    for (const r of rows) {
      total += r.n;
      conflicts += r.conflicts;
      compensations += r.compensations;
      perAgent.set(r.agent, (perAgent.get(r.agent) ?? 0) + r.n);
    }
  }
  expect(report.decisions).toMatchObject({ total, conflicts, compensations });
  expect(compensations).toBeGreaterThan(0);
  for (const a of report.agents) {
    const d = a.decisions;
    expect({ agent: a.agent, decided: d.accepted + d.rejected + d.escalated }).toEqual({
      agent: a.agent,
      decided: perAgent.get(a.agent) ?? 0,
    });
  }
  const handled = await admin.query<{ agent: string; n: number }>(
    'select agent, count(*)::int as n from agent_runs where entity_id like $1 group by agent',
    [`${run}-%`],
  );
  expect(Object.fromEntries(report.agents.map((a) => [a.agent, a.handled]))).toEqual(
    Object.fromEntries(handled.rows.map((r) => [r.agent, r.n])),
  );
  expect(report.agents.map((a) => a.agent).sort()).toEqual([...AGENTS].sort());
});
