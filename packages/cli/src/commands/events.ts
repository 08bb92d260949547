import { createPgPool, history, UsageError } from '@accord/sdk';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { loadStack } from '../stack';

export const eventsCommand: Command = {
  name: 'events',
  summary: "an entity's event history from the archive, oldest first",
  usage:
    'accord events <entityType> <entityId> [--since <ISO>] [--until <ISO>] [--type <T>]... [--limit <n>] [--json]',
  help: `Prints the archived events of one entity (written by services/archive), decoded, oldest first.

Options:
  --since <ISO>   from this time (inclusive)
  --until <ISO>   to this time (exclusive)
  --type <T>      only this event type (full or short name); repeat for several
  --limit <n>     the most recent n events (default 1000)
  --json          a JSON array`,
  options: {
    since: { type: 'string' },
    until: { type: 'string' },
    type: { type: 'string', multiple: true },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [entityType, entityId] = positionals;
    if (!entityType || !entityId)
      throw new UsageError('expected <entityType> <entityId> (see: accord events --help)');
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    const { config } = loadStack();
    const pool = createPgPool(config.postgres.url, { max: 1 });
    try {
      const events = await history(pool, {
        entityType,
        entityId,
        ...(typeof values.since === 'string' ? { since: values.since } : {}),
        ...(typeof values.until === 'string' ? { until: values.until } : {}),
        ...(Array.isArray(values.type) ? { types: values.type.map(String) } : {}),
        ...(limit === undefined ? {} : { limit }),
      });
      if (values.json) out(toJson(events, 2));
      else {
        const rows = events.map((e) => ({
          'occurred at': e.occurredAt.toISOString(),
          type: e.eventType.split('.').pop() ?? e.eventType,
          producer: e.producer,
          'event id': e.eventId,
          data: toJson(e.payload),
        }));
        for (const line of formatTable(rows, ['occurred at', 'type', 'producer', 'event id', 'data']))
          out(line);
        out(`(${events.length} event(s) of ${entityType} ${entityId})`);
      }
    } finally {
      await pool.end();
    }
    return 0;
  },
};
