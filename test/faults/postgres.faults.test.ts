/**
 * Postgres restarted under load: the archive (a transactional pipeline) and the order owner (decisions,
 * audit and checkpoint in one transaction) run on a private Postgres of the suite's own while events and
 * proposals keep coming; Postgres is restarted twice, once cleanly (`pg_ctl restart -m fast`: every session
 * ended) and once as a crash (`-m immediate`: recovery on start). The auditor: every acknowledged event
 * archived exactly once, every acknowledged proposal decided exactly once, both services still running.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { createPgPool, EventPublisher, grantCheckpointGroups, propose } from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
import { eventually, uniqueName } from '@accord/testing';
import { type RunningService, startService } from '../e2e/cli';
import { faultSuite, note, ROOT } from './cluster';
import { type PrivatePostgres, startPostgres } from './postgres';

const FULL = process.env.ACCORD_FAULTS === 'full';
const PHASE_MS = FULL ? 15000 : 5000;
jest.setTimeout(FULL ? 900_000 : 300_000);

let pg: PrivatePostgres | undefined;
let stopLoad = () => {};
let loading: Promise<void> | undefined;

const { cluster, ctx, stops } = faultSuite({
  beforeCleanup: async () => {
    stopLoad();
    await loading;
  },
  afterCleanup: async () => pg?.stop(),
});

beforeAll(async () => {
  pg = await startPostgres();
  await migrate(pg.url(), join(ROOT, 'infra/postgres/migrations'));
}, 120_000);

test('Postgres restarted cleanly and crashed under load: every acknowledged event archived once, every proposal decided once, no service down', async () => {
  const postgres = pg as PrivatePostgres;
  const admin = createPgPool(postgres.url(), { max: 2 });
  const topic = await ctx.createTopic({ partitions: 3 });
  const proposals = await ctx.createTopic({ partitions: 3 });
  const decisions = await ctx.createTopic({ partitions: 3 });
  const archiveGroup = uniqueName('t-archive');
  const ownerGroup = uniqueName('t-owner-order');
  await grantCheckpointGroups(admin, 'accord_owner_order', [ownerGroup]);
  const env = { ...cluster.env, DATABASE_URL: postgres.url(), ACCORD_LOG_LEVEL: 'info' };
  const services: RunningService[] = [
    await startService(
      'services/archive/dist/main.js',
      ['--group', archiveGroup, '--topics', `^${topic}$`],
      { ...env, ARCHIVE_DATABASE_URL: postgres.url('accord_archive') },
      stops,
    ),
    await startService(
      'services/owners/dist/main.js',
      ['--entity', 'order', '--topic', proposals, '--events-topic', decisions, '--group', ownerGroup],
      { ...env, OWNER_DATABASE_URL: postgres.url('accord_owner_order') },
      stops,
    ),
  ];
  const exited = () => services.filter((s) => s.exitCode() !== null).length;

  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'faults',
    autoRegister: true,
  });
  const events = new Set<string>();
  const proposed = new Set<string>();
  let failed = 0;
  let stop = false;
  stopLoad = () => {
    stop = true;
  };
  let round = 0;
  loading = (async () => {
    while (!stop) {
      const n = round++;
      try {
        const sent = await publisher.publishMany(
          Array.from({ length: 10 }, (_, e) => ({
            type: 'DiscountApproved' as const,
            data: { orderId: `o-${e}`, percent: 1, approvedBy: `round-${n}` },
            options: { entityId: `o-${e}`, topic },
          })),
        );
        for (const s of sent) events.add(s.eventId);
        for (let e = 0; e < 5; e++)
          proposed.add(
            await propose(
              publisher,
              'order',
              `o-${n}-${e}`,
              'place',
              { total: n },
              { agent: 'faults', topic: proposals },
            ),
          );
      } catch {
        failed++; // not acknowledged: never counted
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Recovery: from the restart's start to the first event archived and the first decision committed once
  // Postgres is back (writes before it went down do not count).
  const recoveries: { restart: string; archivingAfterMs: number; decidingAfterMs: number }[] = [];
  const recovered = async (restart: string, at: number) => {
    const since = new Date();
    const first = async (sql: string) =>
      eventually(
        async () => {
          const { rows } = await admin.query<{ at: Date | null }>(sql, [since]).catch(() => ({ rows: [] }));
          return rows[0]?.at ? rows[0].at.getTime() - at : undefined;
        },
        { timeoutMs: 120000, intervalMs: 200, what: `work after the ${restart} restart` },
      );
    recoveries.push({
      restart,
      archivingAfterMs: await first(
        'select min(archived_at) as at from event_archive where archived_at > $1',
      ),
      decidingAfterMs: await first('select min(decided_at) as at from order_decisions where decided_at > $1'),
    });
    note(`${restart}: ${JSON.stringify(recoveries[recoveries.length - 1])}`);
  };
  await wait(PHASE_MS);
  note(`Postgres restart -m fast (${events.size} events, ${proposed.size} proposals acknowledged so far)`);
  let at = Date.now();
  postgres.restart('fast');
  await recovered('fast', at);
  await wait(PHASE_MS);
  note(`Postgres restart -m immediate (a crash; ${events.size} events, ${proposed.size} proposals so far)`);
  at = Date.now();
  postgres.restart('immediate');
  await recovered('immediate', at);
  await wait(PHASE_MS);
  stop = true;
  await loading;
  await publisher.close();
  note(
    `load stopped: ${events.size} events, ${proposed.size} proposals acknowledged, ${failed} round(s) failed`,
  );

  // The auditor, on the private Postgres. On a timeout it says where each service is and what it said.
  const said = (service: RunningService) =>
    `exit ${service.exitCode()}; last lines: ${service.output.join('').split('\n').filter(Boolean).slice(-5).join(' | ')}`;
  const seen = { events: 0, decided: 0 };
  const state = () =>
    `${seen.events} of ${events.size} events archived, ${seen.decided} of ${proposed.size} proposals decided; archive: ${said(services[0] as RunningService)}; owner: ${said(services[1] as RunningService)}`;
  const ids = [...events];
  const archived = await eventually(
    async () => {
      const { rows } = await admin
        .query<{ n: number; rows: number }>(
          'select count(distinct event_id)::int as n, count(*)::int as rows from event_archive where topic = $1 and event_id = any($2)',
          [topic, ids],
        )
        .catch(() => ({ rows: [] as { n: number; rows: number }[] }));
      seen.events = rows[0]?.n ?? seen.events;
      return rows[0]?.n === ids.length ? rows[0] : undefined;
    },
    { timeoutMs: 120000, intervalMs: 500, what: () => `every acknowledged event archived: ${state()}` },
  );
  expect(archived).toEqual({ n: ids.length, rows: ids.length });
  const pids = [...proposed];
  const decided = await eventually(
    async () => {
      const { rows } = await admin
        .query<{ n: number; rows: number }>(
          'select count(distinct proposal_id)::int as n, count(*)::int as rows from order_decisions where proposal_id = any($1)',
          [pids],
        )
        .catch(() => ({ rows: [] as { n: number; rows: number }[] }));
      seen.decided = rows[0]?.n ?? seen.decided;
      return rows[0]?.n === pids.length ? rows[0] : undefined;
    },
    {
      timeoutMs: 120000,
      intervalMs: 500,
      what: () => `every acknowledged proposal decided: ${state()}`,
    },
  );
  expect(decided).toEqual({ n: pids.length, rows: pids.length });
  expect(recoveries.map((r) => r.restart)).toEqual(['fast', 'immediate']);
  expect({ exited: exited() }).toEqual({ exited: 0 });
  expect(events.size).toBeGreaterThan(0);
  await admin.end();
});
