#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
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
    async start({ values, accord }) {
      const topics = pattern(values.topics);
      const pipeline = createArchivePipeline(accord, {
        ...(values.group ? { group: values.group } : {}),
        ...(topics ? { topics } : {}),
      });
      // A start that fails leaves nothing running: runService closes the context, which stops it.
      await pipeline.start();
      return {
        running: { group: pipeline.group },
        async stop() {
          await pipeline.stop();
          return { processed: pipeline.stats.processed, deadLettered: pipeline.stats.deadLettered };
        },
      };
    },
  }).then((code) => {
    process.exitCode = code;
  });
}
