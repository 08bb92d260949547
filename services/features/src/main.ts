#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import { AccordError, Histogram, runService } from '@accord/sdk';

const HELP = `Usage: node services/features/dist/main.js [--group <id>] [--prefix <redis key prefix>] [--views <names>]

Accord's feature pipelines: compute the reference feature views (packages/reference/src/views.ts) from the event
stream into Redis, once, for every agent. Each view version is its own consumer group,
<group>.<view>.v<version> (e.g. features.order_count.v1), with its own checkpoints: a version added later
backfills from the start of retention while the others keep serving, and
\`accord replay features.order_count.v1 --to-earliest\` recomputes that version (Redis is derived state:
after a FLUSHALL, replaying every group rebuilds the same values). Stops cleanly on SIGTERM or SIGINT.

Options:
  --group <id>       base consumer group (default features)
  --prefix <p>       Redis key prefix (default none)
  --views <names>    only these views, comma-separated view names (default all): to spread the views over
                     several processes or machines, each with the same --group and --prefix; run every
                     view in exactly one of them
  -h, --help         this help

Environment:
  FEATURES_DATABASE_URL   Postgres for checkpoints, as a least-privilege role (default: DATABASE_URL with the user accord_features)
  KAFKA_BROKERS, REDIS_URL, SCHEMA_REGISTRY_URL, DATABASE_URL`;

/** The views --views names (each a view's name), or all of them. */
function selectViews(names: string | undefined): typeof COMMERCE_VIEWS {
  if (names === undefined) return COMMERCE_VIEWS;
  const wanted = names
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const known = [...new Set(COMMERCE_VIEWS.map((v) => v.name))];
  const unknown = wanted.filter((n) => !known.includes(n));
  if (wanted.length === 0 || unknown.length > 0)
    throw new AccordError(
      'CONFIG_INVALID',
      `--views: ${wanted.length === 0 ? 'names no view' : `unknown view ${unknown.map((n) => `"${n}"`).join(', ')}`}; the views are ${known.join(', ')}`,
    );
  return COMMERCE_VIEWS.filter((v) => wanted.includes(v.name));
}

if (require.main === module) {
  runService<{ group?: string; prefix?: string; views?: string }>({
    name: 'features',
    help: HELP,
    options: { group: { type: 'string' }, prefix: { type: 'string' }, views: { type: 'string' } },
    role: 'accord_features',
    databaseUrlVariable: 'FEATURES_DATABASE_URL',
    // One pipeline per view version share the pool (and one LISTEN connection).
    poolSize: 8,
    catalog: referenceCatalog,
    async start({ values, accord }) {
      const staleness = new Histogram('accord_feature_end_to_end_staleness_ms');
      accord.telemetry.on((e) => {
        if (e.type === 'features.written') for (const ms of e.endToEndMs) staleness.record(ms);
      });
      const views = selectViews(values.views);
      const pipelines = accord.features({
        views,
        ...(values.group ? { group: values.group } : {}),
        ...(values.prefix ? { prefix: values.prefix } : {}),
      });
      // A start that fails leaves nothing running: runService closes the context, which stops them.
      await pipelines.start();
      return {
        running: { views: views.length, groups: pipelines.groups },
        async stop() {
          await pipelines.stop();
          const s = staleness.summary();
          return {
            processed: pipelines.stats.processed,
            stalenessMs: { p50: s.p50 ?? null, p95: s.p95 ?? null, p99: s.p99 ?? null },
          };
        },
      };
    },
  }).then((code) => {
    process.exitCode = code;
  });
}
