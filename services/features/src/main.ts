#!/usr/bin/env node
import { COMMERCE_VIEWS, referenceCatalog } from '@accord/reference';
import { createFeaturePipeline, describeError, Histogram, runService, Telemetry } from '@accord/sdk';

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
    async start({ values, config, pool }) {
      const staleness = new Histogram('accord_feature_end_to_end_staleness_ms');
      const telemetry = new Telemetry();
      telemetry.on((e) => {
        if (e.type === 'features.written') for (const ms of e.endToEndMs) staleness.record(ms);
      });
      const pipelines = createFeaturePipeline({
        telemetry,
        views: COMMERCE_VIEWS,
        catalog: referenceCatalog,
        config,
        pool,
        ...(values.group ? { group: values.group } : {}),
        ...(values.prefix ? { prefix: values.prefix } : {}),
        onError: (error) =>
          process.stderr.write(
            `features: consumer failed, restarting from the checkpoint: ${describeError(error)}\n`,
          ),
      });
      const close = async () => {
        await pipelines.stop();
        pipelines.redis.disconnect();
      };
      try {
        await pipelines.start();
      } catch (error) {
        await close();
        throw error;
      }
      return {
        running: `running ${COMMERCE_VIEWS.length} view versions, one group each: ${pipelines.groups.join(', ')}`,
        async stop() {
          await close();
          const s = staleness.summary();
          return `after ${pipelines.stats.processed} events; end-to-end staleness p50=${s.p50 ?? '-'}ms p95=${s.p95 ?? '-'}ms p99=${s.p99 ?? '-'}ms`;
        },
      };
    },
  }).then((code) => {
    process.exitCode = code;
  });
}
