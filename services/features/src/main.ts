#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createFeaturePipeline, describeError, featureMetrics, resolveConfig } from '@accord/sdk';
import { COMMERCE_VIEWS } from './views';

const HELP = `Usage: node services/features/dist/main.js [--group <id>] [--prefix <redis key prefix>]

Accord's feature pipeline: computes the feature views (services/features/src/views.ts) from the event
stream into Redis, once, for every agent. Redis is derived state: after a FLUSHALL,
\`accord replay features --to-earliest\` rebuilds the same values. Stops cleanly on SIGTERM or SIGINT.

Options:
  --group <id>       consumer group (default features)
  --prefix <p>       Redis key prefix (default none)
  -h, --help         this help

Environment: KAFKA_BROKERS, REDIS_URL, DATABASE_URL (checkpoints), SCHEMA_REGISTRY_URL`;

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
  const pipeline = createFeaturePipeline({
    views: COMMERCE_VIEWS,
    config: resolveConfig(),
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
    return 1;
  }
  process.stdout.write(`features: running as group ${pipeline.group} with ${COMMERCE_VIEWS.length} views\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await pipeline.stop();
  pipeline.redis.disconnect();
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
