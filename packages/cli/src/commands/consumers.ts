import { UsageError } from '@accord/sdk';
import { parseStartPosition } from '@accord/sdk/ops';
import type { Command } from '../command';
import { withStackOps } from '../operator';

export const consumersCommand: Command = {
  name: 'consumers',
  summary: 'add a consumer group to a topic at a chosen position',
  usage: 'accord consumers add <group> --topic <t> [--from earliest|latest|<ISO time>] [--json]',
  help: `Registers a new pipeline's starting checkpoint on a topic (a time resolves to the first offset at or
after it, per partition), and sets Kafka's committed offsets to match. The consumer that joins the group
later starts exactly there. Refused if the group already has checkpoints on the topic (use accord replay).

Options:
  --topic <t>      the topic
  --from <where>   earliest, latest (default) or an ISO time
  --json           print the positions as JSON`,
  options: { topic: { type: 'string' }, from: { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values, out }) {
    const [sub, group] = positionals;
    if (sub !== 'add')
      throw new UsageError(
        `expected "add", got ${sub ? `"${sub}"` : 'nothing'} (see: accord consumers --help)`,
      );
    if (!group) throw new UsageError('missing <group>');
    if (typeof values.topic !== 'string') throw new UsageError('missing --topic <t>');
    const topic = values.topic;
    const from = parseStartPosition(typeof values.from === 'string' ? values.from : 'latest');
    const added = await withStackOps((ops) => ops.addConsumer(group, topic, from));
    if (values.json) out(JSON.stringify(added, null, 2));
    else {
      out(`added group ${group} on ${topic} from ${from instanceof Date ? from.toISOString() : from}:`);
      for (const p of added.positions) out(`  ${topic}[${p.partition}] starts at offset ${p.offset}`);
    }
    return 0;
  },
};
