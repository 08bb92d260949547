#!/usr/bin/env node
import { parseArgs } from 'node:util';
import {
  createPgPool,
  describeError,
  refuseSuperuser,
  resolveConfig,
  serviceDatabaseUrl,
  untilSignal,
} from '@accord/sdk';
import { ARCHIVE_GROUP, createArchivePipeline } from './archive';

const HELP = `Usage: node services/archive/dist/main.js [--group <id>] [--topics <regex>]

Accord's event archive: a transactional pipeline that writes every event of every domain topic
(<domain>.<entity>.events) into the append-only Postgres table event_archive, exactly once per event id.
Stops cleanly on SIGTERM or SIGINT (finishes the batch, checkpoints, leaves the group).

Options:
  --group <id>       consumer group (default ${ARCHIVE_GROUP})
  --topics <regex>   topics to archive (default: every <domain>.<entity>.events topic that exists at start)
  -h, --help         this help

Environment:
  ARCHIVE_DATABASE_URL   Postgres as the least-privilege role (default: DATABASE_URL with the user accord_archive)
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL`;

async function main(argv: string[]): Promise<number> {
  let values: { group?: string; topics?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        group: { type: 'string' },
        topics: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`archive: ${describeError(error)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let topics: RegExp | undefined;
  try {
    topics = values.topics ? new RegExp(values.topics) : undefined;
  } catch (error) {
    process.stderr.write(`archive: --topics is not a valid regular expression: ${describeError(error)}\n`);
    return 2;
  }
  const config = resolveConfig();
  const dbUrl = serviceDatabaseUrl('accord_archive', 'ARCHIVE_DATABASE_URL');
  const pool = createPgPool(dbUrl, { max: 4 });
  try {
    await refuseSuperuser(pool, 'archive', dbUrl, 'accord_archive');
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n`);
    await pool.end();
    return 1;
  }
  const pipeline = createArchivePipeline({
    config,
    pool,
    onError: (error) =>
      process.stderr.write(
        `archive: consumer failed, restarting from the checkpoint: ${describeError(error)}\n`,
      ),
    ...(values.group ? { group: values.group } : {}),
    ...(topics ? { topics } : {}),
  });
  try {
    await pipeline.start();
  } catch (error) {
    process.stderr.write(`archive: cannot start: ${describeError(error)}\n`);
    await pipeline.stop();
    await pool.end();
    return 1;
  }
  process.stdout.write(`archive: running as group ${pipeline.group}\n`);
  const signal = await untilSignal();
  process.stdout.write(`archive: ${signal}, finishing the batch and leaving the group\n`);
  await pipeline.stop();
  await pool.end();
  process.stdout.write(
    `archive: stopped after ${pipeline.stats.processed} events (${pipeline.stats.deadLettered} dead-lettered)\n`,
  );
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
