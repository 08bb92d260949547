#!/usr/bin/env node
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  audit,
  formatReport,
  generateTraffic,
  measure,
  referenceCatalog,
  reportHtml,
} from '@accord/reference';
import {
  createAccord,
  describeError,
  isAccordError,
  openTelemetryFor,
  refuseSuperuser,
  resolveConfig,
  serviceDatabaseUrl,
  topicNamespace,
  UsageError,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';

const HELP = `Usage: node services/commerce/dist/main.js [--duration <s>] [--rate <n>] [--seed <n>] [--run <id>] [--html <file>] [--json]

The commerce scenario of Accord's main job, run against a deployed fleet (the owners and agents of
packages/reference): it publishes the world's facts (customers, stock counts, orders and payments, refund
requests) at --rate story steps per second for --duration seconds, provoking the three contradictions
(a discount on an item going out of stock, a block on an order already shipping, a refund promise billing
cannot honour); waits until every pipeline caught up and the decisions settled; then the independent
auditor recounts from the database, and the report is printed (and written as HTML).

Exit status: 0 when the auditor finds no contradiction and every event was archived, 1 otherwise.

Options:
  --duration <s>        how long the traffic runs (default 60)
  --rate <n>            story steps per second (default 5)
  --seed <n>            the story's seed (default 42)
  --run <id>            prefix of this run's entity ids (default r<seed>-<time>)
  --customers <n>       customers in the story (default 40; fewer: loyalty and stock-outs come sooner)
  --skus <n>            stock items (default 12, of which 3 are scarce)
  --html <file>         where the HTML report goes (default $ACCORD_STATE_DIR/reports/commerce.html)
  --settle-timeout <s>  how long to wait for the fleet to catch up (default 180)
  --json                the report as JSON on stdout
  -h, --help            this help

Environment:
  AUDITOR_DATABASE_URL  Postgres as the read-only auditor (default: DATABASE_URL with the user accord_auditor)
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL, ACCORD_TOPIC_NAMESPACE`;

/** The fleet's groups: agents and owners (in this run's topic namespace, if any), the archive, the features. */
function fleetGroups(): RegExp {
  const ns = topicNamespace();
  const prefix = ns ? `${ns.replace(/[.-]/g, '\\$&')}\\.` : '';
  return new RegExp(
    `^(${prefix}(agent-(fulfillment|pricing|risk|support|billing|inventory|personalization)|owner-)|accord-archive|features\\.)`,
  );
}
const GROUPS = fleetGroups();

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

function progress(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `[commerce] ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.round((100 * done) / total)}% ${done}/${total} steps`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
  else if (done === total || done % Math.max(1, Math.round(total / 10)) === 0)
    process.stderr.write(`${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      run: { type: 'string' },
      customers: { type: 'string' },
      skus: { type: 'string' },
      html: { type: 'string' },
      'settle-timeout': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const seconds = positive('duration', values.duration, 60);
  const rate = positive('rate', values.rate, 5);
  const seed = Math.floor(positive('seed', values.seed, 42));
  const settleMs = positive('settle-timeout', values['settle-timeout'], 180) * 1000;
  const run = values.run ?? `r${seed}-${Date.now().toString(36)}`;
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(run))
    throw new UsageError(`--run must be lower-case letters, digits and -, got "${run}"`);
  const html = values.html ?? join(process.env.ACCORD_STATE_DIR || '.accord', 'reports', 'commerce.html');
  // The world's facts start the traces the fleet continues (exported when OTEL_EXPORTER_OTLP_ENDPOINT is set).
  const otel = openTelemetryFor('commerce-world');
  const databaseUrl = serviceDatabaseUrl('accord_auditor', 'AUDITOR_DATABASE_URL');
  const accord = createAccord({ catalog: referenceCatalog, databaseUrl, poolSize: 2 });
  const ops = await Ops.connect(resolveConfig({ databaseUrl }));
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    process.stderr.write('\n[commerce] stopping the traffic early (report follows)\n');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pool = accord.pool();
    await refuseSuperuser(pool, 'commerce', databaseUrl, 'accord_auditor');
    const publisher = accord.publisher({ producer: 'commerce-world' });
    process.stderr.write(`[commerce] run ${run}: ${rate} steps/s for ${seconds} s (seed ${seed})\n`);
    const traffic = await generateTraffic(publisher, {
      run,
      seed,
      rate,
      durationMs: seconds * 1000,
      customers: Math.floor(positive('customers', values.customers, 40)),
      skus: Math.max(4, Math.floor(positive('skus', values.skus, 12))),
      onProgress: progress,
      stopped: () => stopping,
    });
    process.stderr.write(
      `[commerce] published ${traffic.eventIds.length} events (${traffic.orders} orders, ${traffic.fraudOrders} by fraud accounts, ${traffic.refunds} refund requests, ${traffic.overRefunds} above what was paid); waiting for the fleet to catch up\n`,
    );
    const lag = await settle(ops, pool, run, settleMs);
    const found = await audit(pool, run, traffic.eventIds);
    const deadLetters: { group: string; count: number }[] = [];
    for (const group of await ops.deadLetterGroups())
      if (GROUPS.test(group)) deadLetters.push({ group, count: (await ops.deadLetters(group)).length });
    const report = await measure(pool, { run, seed, rate, seconds }, { deadLetters, lag, audit: found });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`\n${formatReport(report)}\n`);
    mkdirSync(dirname(html), { recursive: true });
    writeFileSync(html, reportHtml(report));
    process.stderr.write(`[commerce] HTML report: ${html}\n`);
    return found.contradictions.length === 0 && found.events.archived === found.events.published && lag === 0
      ? 0
      : 1;
  } finally {
    await ops.close();
    await accord.close();
    await otel?.shutdown();
  }
}

/**
 * Waits until every fleet pipeline is at the end of its topics and no decision of this run was made for
 * three seconds (agents chain proposals on decisions); returns the lag left when the time is up.
 */
async function settle(
  ops: Ops,
  pool: ReturnType<ReturnType<typeof createAccord>['pool']>,
  run: string,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const lag = (await ops.lag()).filter((l) => GROUPS.test(l.group)).reduce((n, l) => n + l.lag, 0);
    let decided = 0;
    for (const e of ['order', 'payment', 'stock_item', 'customer'])
      decided +=
        (
          await pool.query<{ n: number }>(
            `select count(*)::int as n from ${e}_decisions where entity_id like $1`,
            [`${run}-%`],
          )
        ).rows[0]?.n ?? 0;
    if (decided !== last || lag > 0) {
      last = decided;
      stableSince = Date.now();
    }
    if (lag === 0 && Date.now() - stableSince >= 3000) return 0;
    if (Date.now() > deadline) {
      process.stderr.write(`[commerce] not settled after ${timeoutMs / 1000} s: lag ${lag}\n`);
      return lag;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `commerce: ${describeError(error)}${isAccordError(error) ? ` [${error.code}]` : ''}\n`,
      );
      process.exitCode = isAccordError(error) && error.code === 'USAGE' ? 2 : 1;
    },
  );
}
