#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
import { REFERENCE_OWNERS, referenceCatalog } from '@accord/reference';
import { runService, startOutboxRelay, UsageError } from '@accord/sdk';

type Entity = keyof typeof REFERENCE_OWNERS;
const ENTITIES = Object.keys(REFERENCE_OWNERS) as Entity[];

const HELP = `Usage: node services/owners/dist/main.js --entity <${ENTITIES.join('|')}> [--topic <proposals topic>] [--group <id>]

The owner of one entity type: the only writer of its entities. It consumes the proposals agents send
(<domain>.<entity>.proposals), decides each once with the entity's business rules (packages/reference),
the runtime adding priority, compensation checks and the escalation queue, and writes the state, the
audit and the decision event in one transaction with its checkpoint. Its outbox relay publishes the
decisions to <domain>.<entity>.events. Agents waiting for a decision are told when it commits.
Stops cleanly on SIGTERM or SIGINT.

Options:
  --entity <type>   the entity type it owns (required)
  --topic <t>       the proposals topic (default <domain>.<entity>.proposals)
  --group <id>      consumer group (default owner-<entity>)
  --events-topic <t> where its outbox relay publishes decisions (default <domain>.<entity>.events)
  -h, --help        this help

Environment:
  OWNER_DATABASE_URL   Postgres as the owner's role (default: DATABASE_URL with the user accord_owner_<entity>)
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL`;

function entityFrom(argv: string[]): Entity | undefined {
  const i = argv.findIndex((a) => a === '--entity' || a.startsWith('--entity='));
  if (i === -1) return undefined;
  const value = argv[i]?.includes('=') ? argv[i]?.split('=')[1] : argv[i + 1];
  return ENTITIES.includes(value as Entity) ? (value as Entity) : undefined;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  // The role it logs in as depends on the entity: read it before the service starts.
  const entity = entityFrom(argv) ?? 'order';
  const asked = argv.some((a) => a === '--entity' || a.startsWith('--entity='));
  runService<{ entity?: string; topic?: string; group?: string; 'events-topic'?: string }>(
    {
      name: `owner-${entity}`,
      help: HELP,
      options: {
        entity: { type: 'string' },
        topic: { type: 'string' },
        group: { type: 'string' },
        'events-topic': { type: 'string' },
      },
      role: `accord_owner_${entity}`,
      databaseUrlVariable: 'OWNER_DATABASE_URL',
      catalog: referenceCatalog,
      async start({ values, accord }) {
        if (!asked || !ENTITIES.includes(values.entity as Entity))
          throw new UsageError(
            `--entity must be one of ${ENTITIES.join(', ')}, got "${values.entity ?? ''}"`,
          );
        const owner = accord.owner({
          ...REFERENCE_OWNERS[entity],
          ...(values.topic ? { topic: values.topic } : {}),
          ...(values.group ? { group: values.group } : {}),
        });
        await owner.start();
        const relay = startOutboxRelay(
          accord.pool(),
          accord.publisher({ producer: `owner-${entity}` }),
          entity,
          {
            logger: accord.logger,
            ...(values['events-topic'] ? { topic: values['events-topic'] } : {}),
          },
        );
        return {
          running: { entity, group: owner.group },
          async stop() {
            await owner.stop();
            await relay.stop();
            return { processed: owner.stats.processed, published: relay.published() };
          },
        };
      },
    },
    argv,
  ).then((code) => {
    process.exitCode = code;
  });
}
