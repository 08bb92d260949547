#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import { Histogram, runService } from '@accord/sdk';

const HELP = `Usage: node services/features/dist/main.js [--group <id>] [--prefix <redis key prefix>]

Accord's feature pipelines: compute the reference feature views (packages/reference/src/views.ts) from the event
stream into Redis, once, for every agent. Each view version is its own consumer group,
<group>.<view>.v<version> (e.g. features.order_count.v1), with its own checkpoints: a version added later
backfills from the start of retention while the others keep serving, and
\`accord replay features.order_count.v1 --to-earliest\` recomputes that version (Redis is derived state:
after a FLUSHALL, replaying every group rebuilds the same values). Stops cleanly on SIGTERM or SIGINT.

Options:
  --group <id>       base consumer group (default features)
  --prefix <p>       Redis key prefix (default none)
  -h, --help         this help

Environment:
  FEATURES_DATABASE_URL   Postgres for checkpoints, as a least-privilege role (default: DATABASE_URL with the user accord_features)
  KAFKA_BROKERS, REDIS_URL, SCHEMA_REGISTRY_URL, DATABASE_URL`;

if (require.main === module) {
  runService<{ group?: string; prefix?: string }>({
    name: 'features',
    help: HELP,
    options: { group: { type: 'string' }, prefix: { type: 'string' } },
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
      const pipelines = accord.features({
        views: COMMERCE_VIEWS,
        ...(values.group ? { group: values.group } : {}),
        ...(values.prefix ? { prefix: values.prefix } : {}),
      });
      // A start that fails leaves nothing running: runService closes the context, which stops them.
      await pipelines.start();
      return {
        running: { views: COMMERCE_VIEWS.length, groups: pipelines.groups },
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
