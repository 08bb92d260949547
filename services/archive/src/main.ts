#!/usr/bin/env node
import { describeError, runService, UsageError } from '@accord/sdk';
import { ARCHIVE_GROUP, createArchivePipeline } from './archive';

const HELP = `Usage: node services/archive/dist/main.js [--group <id>] [--topics <regex>]

Accord's event archive: a transactional pipeline that writes every event of every domain topic
(<domain>.<entity>.events) into the append-only Postgres table event_archive, exactly once per event id.
Topics created later are picked up without a restart. Stops cleanly on SIGTERM or SIGINT (finishes the
batch, checkpoints, leaves the group).

Options:
  --group <id>       consumer group (default ${ARCHIVE_GROUP})
  --topics <regex>   topics to archive (default: every <domain>.<entity>.events topic)
  -h, --help         this help

Environment:
  ARCHIVE_DATABASE_URL   Postgres as the least-privilege role (default: DATABASE_URL with the user accord_archive)
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL`;

function pattern(raw: string | undefined): RegExp | undefined {
  if (raw === undefined) return undefined;
  try {
    return new RegExp(raw);
  } catch (error) {
    throw new UsageError(`--topics is not a valid regular expression: ${describeError(error)}`);
  }
}

if (require.main === module) {
  runService<{ group?: string; topics?: string }>({
    name: 'archive',
    help: HELP,
    options: { group: { type: 'string' }, topics: { type: 'string' } },
    role: 'accord_archive',
    databaseUrlVariable: 'ARCHIVE_DATABASE_URL',
    async start({ values, config, pool }) {
      const topics = pattern(values.topics);
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
        await pipeline.stop();
        throw error;
      }
      return {
        running: `running as group ${pipeline.group}`,
        async stop() {
          await pipeline.stop();
          return `after ${pipeline.stats.processed} events (${pipeline.stats.deadLettered} dead-lettered)`;
        },
      };
    },
  }).then((code) => {
    process.exitCode = code;
  });
}
