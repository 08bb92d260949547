/**
 * Redis loses everything under load: the feature service, the order owner and the pricing agent (which
 * grants discounts from order_count and lifetime_value_cents) run on a private Redis without persistence
 * while orders keep coming; Redis is flushed (FLUSHALL), and later SIGKILLed and started again empty.
 * Without a guard the features would count on from zero and pricing would decide on those counts as if
 * they were whole. Required, and asserted: every pricing run either read whole values (each customer's
 * order count at least what it was before the faults) or refused (missing: not-built / rebuilding), never
 * decided on an emptied store; the features rebuilt by replay equal a recount from the log (nothing lost,
 * nothing counted twice); each loss recorded (a replay per view, 'store-lost' incidents); every service
 * running. Measured: the time from each fault to every view ready again.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import {
  AvroSerde,
  connectIfIdle,
  createPgPool,
  createRedis,
  EventPublisher,
  FeatureReader,
  type FeatureResult,
  grantCheckpointGroups,
} from '@accord/sdk';
import { eventually, uniqueName } from '@accord/testing';
import { accord, type RunningService, startService } from '../e2e/cli';
import { readLog } from './audit';
import { faultSuite, note, ROOT } from './cluster';
import { type PrivateRedis, startRedis } from './redis';

const FULL = process.env.ACCORD_FAULTS === 'full';
const TRAFFIC_MS = FULL ? 60_000 : 12_000;
const CUSTOMERS = 10;
const WARM_UP_ORDERS = 6;
jest.setTimeout(FULL ? 900_000 : 300_000);

const ENTITIES = ['order', 'payment', 'stock_item', 'customer'];

let redis: PrivateRedis | undefined;
let env: Record<string, string> | undefined;
let stopLoad = () => {};
let loading: Promise<void> | undefined;

const { cluster, ctx, stops } = faultSuite({
  beforeCleanup: async () => {
    stopLoad();
    await loading;
    if (env) await accord(['stop', 'pricing'], env);
  },
  afterCleanup: async () => redis?.stop(),
});

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

test('Redis flushed, then killed and started empty, under load: no decision on an emptied store, features rebuilt equal to the log, each loss recorded', async () => {
  const store = redis as PrivateRedis;
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const ns = uniqueName('t-ns');
  const prefix = ctx.redisPrefix();
  const agentsDir = mkdtempSync(join(tmpdir(), 'accord-redis-faults-'));
  env = {
    ...cluster.env,
    DATABASE_URL: db.url(),
    REDIS_URL: store.url,
    ACCORD_TOPIC_NAMESPACE: ns,
    ACCORD_AGENTS_DIR: agentsDir,
    ACCORD_FEATURE_PREFIX: prefix,
    ACCORD_LOG_LEVEL: 'info',
  };
  const orders = `${ns}.commerce.order.events`;
  const kafka = await ctx.kafkaAdmin();
  await kafka.createTopics({
    waitForLeaders: true,
    topics: ENTITIES.flatMap((e) => [`${ns}.commerce.${e}.events`, `${ns}.commerce.${e}.proposals`]).map(
      (topic) => ({ topic, numPartitions: 2 }),
    ),
  });
  await grantCheckpointGroups(admin, 'accord_owner_order', [`${ns}.owner-order`]);
  const featureGroup = uniqueName('t-features');
  const services: Record<string, RunningService> = {
    features: await startService(
      'services/features/dist/main.js',
      ['--group', featureGroup, '--prefix', prefix],
      env,
      stops,
    ),
    owner: await startService('services/owners/dist/main.js', ['--entity', 'order'], env, stops),
  };
  const deployed = await accord(
    ['deploy', join(ROOT, 'packages/reference/manifests/commerce/pricing.yaml')],
    env,
  );
  expect({ code: deployed.code, stderr: deployed.stderr }).toEqual({ code: 0, stderr: '' });

  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'faults',
  });
  stops.push(() => publisher.close());
  let n = 0;
  const order = (customer: number) => ({
    type: 'OrderPlaced' as const,
    data: { orderId: `o-${++n}`, customerId: `c-${customer}`, lines: [], totalCents: 5000, currency: 'EUR' },
    options: { entityId: `o-${n}`, topic: orders },
  });
  const markers = createRedis(store.url, { failFast: true });
  stops.push(async () => markers.disconnect());
  const allReady = async () => {
    try {
      // As the SDK's reader does: this fail-fast client gives up reconnecting after ~2 s, and Redis may come
      // back later than that (a clone's run: "Connection is closed." for 120 s, the views long ready).
      await connectIfIdle(markers);
      const states = await Promise.all(
        COMMERCE_VIEWS.map((v) =>
          markers.hget(`${prefix}accord:features:epoch:${v.name}@${v.version}`, 'state'),
        ),
      );
      return states.every((s) => s === 'ready');
    } catch {
      return false; // Redis down
    }
  };
  const lagZero = async () => {
    const lag = await accord(['lag', '--json'], env);
    const rows = JSON.parse(lag.stdout || '[]') as { lag: number; state: string }[];
    return rows.length > 0 && rows.every((r) => r.lag === 0 && r.state === 'caught up');
  };

  // Warm-up: every customer has WARM_UP_ORDERS orders counted and priced before any fault.
  await publisher.publishMany(
    Array.from({ length: CUSTOMERS * WARM_UP_ORDERS }, (_, i) => order(i % CUSTOMERS)) as never,
  );
  await eventually(async () => (await allReady()) && (await lagZero()), {
    what: 'the warm-up counted and priced',
    timeoutMs: 120_000,
    intervalMs: 500,
  });
  note(`warm-up: ${n} orders for ${CUSTOMERS} customers counted`);

  // Orders keep coming, one every 50 ms, while Redis loses everything twice.
  let stopped = false;
  stopLoad = () => {
    stopped = true;
  };
  loading = (async () => {
    while (!stopped) {
      await publisher.publishMany([order(n % CUSTOMERS)] as never);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const recoveries: { fault: string; readyAfterMs: number }[] = [];
  // What a view that never gets ready left behind: its marker, its group's replays, the service's warnings
  // (once seen in a CI clone under the fleet's load: SIGKILL and restart, no view ready after 120 s).
  const explain = async (): Promise<string> => {
    const marks = await Promise.all(
      COMMERCE_VIEWS.map(async (v) => {
        const key = `${prefix}accord:features:epoch:${v.name}@${v.version}`;
        return `${v.name}@${v.version}=${JSON.stringify(await markers.hgetall(key).catch((e: Error) => e.message))}`;
      }),
    );
    const replays = await admin
      .query<{ n: number }>(
        `select count(*)::int as n from pipeline_checkpoints where consumer_group like $1 and replay_resume is not null`,
        [`${featureGroup}%`],
      )
      .then((r) => r.rows[0]?.n)
      .catch((e: Error) => e.message);
    const warnings = (services.features?.output ?? [])
      .join('')
      .split('\n')
      .filter((l) => /"level":"(warn|error)"/.test(l))
      .slice(-12)
      .map((l) => l.slice(0, 400));
    return `markers ${marks.join(' ')}; partitions still replaying: ${replays}; features service: ${warnings.join(' | ')}`;
  };
  const timeToReady = async (fault: string, since: number) => {
    try {
      await eventually(allReady, {
        what: `every view ready after ${fault}`,
        timeoutMs: 120_000,
        intervalMs: 100,
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${await explain()}`);
    }
    recoveries.push({ fault, readyAfterMs: Date.now() - since });
    note(`${fault}: every view ready again after ${Date.now() - since} ms`);
  };
  await new Promise((r) => setTimeout(r, TRAFFIC_MS / 4));
  let at = Date.now();
  store.flush();
  note('FLUSHALL');
  await timeToReady('FLUSHALL', at);
  await new Promise((r) => setTimeout(r, TRAFFIC_MS / 4));
  at = Date.now();
  await store.kill();
  note('redis-server SIGKILLed; starting it again (empty) in 1 s');
  await new Promise((r) => setTimeout(r, 1000));
  await store.start();
  await timeToReady('SIGKILL and restart', at);
  await new Promise((r) => setTimeout(r, TRAFFIC_MS / 4));
  stopLoad();
  await loading;
  await eventually(async () => (await allReady()) && (await lagZero()), {
    what: 'features and pricing caught up',
    timeoutMs: 180_000,
    intervalMs: 500,
  });

  // The auditor. 1: the features equal a recount from the log.
  const serde = new AvroSerde({ registryUrl: cluster.config.schemaRegistry.url });
  const truth = new Map<string, { count: number; ltv: number }>();
  for (const record of (await readLog(ctx, orders)).values()) {
    if (!record.value) continue;
    const decoded = await serde.decode(record.value);
    if (decoded.schemaName !== 'accord.commerce.OrderPlaced') continue;
    const v = decoded.value as { customerId: string; totalCents: number };
    const t = truth.get(v.customerId) ?? { count: 0, ltv: 0 };
    truth.set(v.customerId, { count: t.count + 1, ltv: t.ltv + v.totalCents });
  }
  const reader = new FeatureReader({
    views: COMMERCE_VIEWS,
    prefix,
    config: cluster.config,
    redis: createRedis(store.url),
  });
  stops.push(async () => reader.close());
  const value = (r: FeatureResult | undefined) => (r && !('missing' in r) ? r.value : r);
  const features = await reader.getMany(
    'customer',
    [...truth.keys()],
    ['order_count', 'lifetime_value_cents'],
  );
  const wrong = [...truth].filter(([id, t]) => {
    const f = features.get(id);
    return value(f?.order_count) !== t.count || value(f?.lifetime_value_cents) !== t.ltv;
  });
  expect(wrong.map(([id, t]) => ({ id, ...t, read: features.get(id) }))).toEqual([]);

  // 2: no pricing run decided on an emptied store: each read whole values or refused.
  const { rows: runs } = await admin.query<{
    entity_id: string;
    outcome: string;
    error: string | null;
    reads: { entityId: string; feature: string; value?: number; missing?: string }[];
  }>(`select entity_id, outcome, error, reads from agent_runs where agent = 'pricing'`);
  // Orders of the warm-up were priced while their counts were still being made (legitimately lower).
  const warmUp = CUSTOMERS * WARM_UP_ORDERS;
  const onLost = runs.filter(
    (r) =>
      Number(r.entity_id.slice(2)) > warmUp &&
      r.outcome !== 'refused' &&
      r.reads.some(
        (x) => x.feature === 'order_count' && (x.missing !== undefined || (x.value ?? 0) < WARM_UP_ORDERS),
      ),
  );
  const { rows: refusals } = await admin.query<{ reason: string; n: number }>(
    `select split_part(reason, ':', 1) as reason, count(*)::int as n from agent_refusals where agent = 'pricing' group by 1`,
  );
  // 3: each loss recorded: replays by the feature service, and incidents per partition.
  const { rows: replays } = await admin.query<{ n: number }>(
    `select count(*)::int as n from pipeline_replays where requested_by like 'accord features (redis lost %'`,
  );
  const { rows: incidents } = await admin.query<{ n: number }>(
    `select count(*)::int as n from pipeline_incidents where kind = 'store-lost'`,
  );
  const summary = {
    mode: FULL ? 'full' : 'short',
    orders: n,
    pricingRuns: runs.length,
    decidedOnLostStore: onLost.length,
    refusals: Object.fromEntries(refusals.map((r) => [r.reason, r.n])),
    failedRuns: runs.filter((r) => r.outcome === 'failed').length,
    failed: runs
      .filter((r) => r.outcome === 'failed')
      .map((r) => `${r.entity_id}: ${r.error}`)
      .slice(0, 3),
    featuresWrong: wrong.length,
    replays: replays[0]?.n,
    storeLostIncidents: incidents[0]?.n,
    recoveries,
    servicesRunning: Object.values(services).every((s) => s.exitCode() === null),
  };
  note(JSON.stringify(summary));
  if (process.env.ACCORD_FAULTS_REPORT) {
    const file = process.env.ACCORD_FAULTS_REPORT.replace(/\.json$/, '.redis.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  }
  expect(onLost.slice(0, 3)).toEqual([]);
  expect(summary.failedRuns).toBe(0);
  // Pricing met the losses (it refused meanwhile), and each view was rebuilt twice (two losses).
  expect(refusals.reduce((sum, r) => sum + r.n, 0)).toBeGreaterThan(0);
  expect(summary.replays).toBeGreaterThanOrEqual(2 * 5);
  expect(summary.storeLostIncidents).toBeGreaterThan(0);
  expect(summary.servicesRunning).toBe(true);
  await admin.end();
});
