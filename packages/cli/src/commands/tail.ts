import { UsageError } from '@accord/sdk';
import { parseStartPosition } from '@accord/sdk/ops';
import type { Command } from '../command';
import { toJson } from '../json';
import { withStackOps } from '../operator';

export const tailCommand: Command = {
  name: 'tail',
  summary: 'decode and print the records of a topic, with partition, offset, key and headers',
  usage: 'accord tail <topic> [--from earliest|latest|<ISO time>] [--entity <id>] [--max <n>] [--json]',
  help: `Reads a topic with a throw-away consumer group (deleted on exit) and prints each record decoded.
Records that do not decode are printed with the reason; reading goes on.

Options:
  --from <where>   earliest, latest (default), or an ISO time: start at the first record at or after it
  --entity <id>    only records with this key
  --max <n>        exit after n records
  --json           one JSON object per line: topic, partition, offset, key, timestamp, headers, schema, value`,
  options: {
    from: { type: 'string' },
    entity: { type: 'string' },
    max: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [topic] = positionals;
    if (!topic) throw new UsageError('missing <topic> (see: accord tail --help)');
    const from = parseStartPosition(typeof values.from === 'string' ? values.from : 'latest');
    const max = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
    if (!(max > 0) || (Number.isFinite(max) && !Number.isInteger(max)))
      throw new UsageError(`--max must be a positive integer, got "${values.max}"`);

    const entity = typeof values.entity === 'string' ? values.entity : undefined;
    const until = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await withStackOps((ops) =>
      ops.tail(topic, { from, ...(entity ? { entity } : {}), max, until }, (r) => {
        if (values.json) out(toJson(r));
        else {
          const body = r.error ? `UNDECODABLE ${r.error}` : `${r.schemaName ?? '?'} ${toJson(r.value)}`;
          out(
            `${r.topic}[${r.partition}]@${r.offset} key=${r.key ?? '-'} ${body} headers=${JSON.stringify(r.headers)}`,
          );
        }
      }),
    );
    return 0;
  },
};
