#!/usr/bin/env node
import { parseArgs } from 'node:util';
import {
  createFeaturePipeline,
  createPgPool,
  describeError,
  featureMetrics,
  refuseSuperuser,
  resolveConfig,
  serviceDatabaseUrl,
  untilSignal,
} from '@accord/sdk';
import { COMMERCE_VIEWS } from './views';

const HELP = `Usage: node services/features/dist/main.js [--group <id>] [--prefix <redis key prefix>]

Accord's feature pipelines: compute the feature views (services/features/src/views.ts) from the event
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

async function main(argv: string[]): Promise<number> {
  let values: { group?: string; prefix?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        group: { type: 'string' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`features: ${describeError(error)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const dbUrl = serviceDatabaseUrl('accord_features', 'FEATURES_DATABASE_URL');
  // One pipeline per view version share the pool (and one LISTEN connection).
  const pool = createPgPool(dbUrl, { max: 8 });
  try {
    await refuseSuperuser(pool, 'features', dbUrl, 'accord_features');
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n`);
    await pool.end();
    return 1;
  }
  const pipeline = createFeaturePipeline({
    views: COMMERCE_VIEWS,
    config: resolveConfig(),
    pool,
    ...(values.group ? { group: values.group } : {}),
    ...(values.prefix ? { prefix: values.prefix } : {}),
    onError: (error) =>
      process.stderr.write(
        `features: consumer failed, restarting from the checkpoint: ${describeError(error)}\n`,
      ),
  });
  try {
    await pipeline.start();
  } catch (error) {
    process.stderr.write(`features: cannot start: ${describeError(error)}\n`);
    await pipeline.stop();
    pipeline.redis.disconnect();
    await pool.end();
    return 1;
  }
  process.stdout.write(
    `features: running ${COMMERCE_VIEWS.length} view versions, one group each: ${pipeline.groups.join(', ')}\n`,
  );
  const signal = await untilSignal();
  await pipeline.stop();
  pipeline.redis.disconnect();
  await pool.end();
  const s = featureMetrics.endToEndStalenessMs.summary();
  process.stdout.write(
    `features: ${signal}; stopped after ${pipeline.stats.processed} events; end-to-end staleness p50=${s.p50 ?? '-'}ms p95=${s.p95 ?? '-'}ms p99=${s.p99 ?? '-'}ms\n`,
  );
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
