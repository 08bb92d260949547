import { UsageError } from '@accord/sdk';
import type { DeadLetterView } from '@accord/sdk/ops';
import { type Command, formatTable } from '../command';
import { toJson } from '../json';
import { who, withStackOps } from '../operator';

/** The dead letters an action names (the CLI's and the console's one check): offsets that exist, or --all open ones. */
export function selectDeadLetters(
  group: string,
  letters: DeadLetterView[],
  wanted: string[],
  all: boolean,
): DeadLetterView[] {
  if (!all && wanted.length === 0) throw new UsageError('give --offset <n> (repeatable) or --all');
  const missing = wanted.filter((w) => !letters.some((d) => d.dlqOffset === w));
  if (missing.length)
    throw new UsageError(`no dead letter at offset(s) ${missing.join(', ')} in ${group}.dlq`);
  return all ? letters.filter((d) => !d.action) : letters.filter((d) => wanted.includes(d.dlqOffset));
}

export const dlqCommand: Command = {
  name: 'dlq',
  summary: "list, replay or discard a pipeline's dead letters",
  usage: 'accord dlq list|replay|discard <group> [--offset <n>]... [--all] [--json]',
  help: `Dead letters live in the topic <group>.dlq with the original bytes, topic/partition/offset, error code
and message, and attempts. Actions are recorded in pipeline_dead_letter_actions.

  list      every dead letter with its reason and what was done about it
  replay    send the original record back to its topic, for this group only (other groups skip it)
  discard   mark dead letters as handled without re-processing

Options:
  --offset <n>   the dead letter's offset in <group>.dlq (repeat for several)
  --all          every dead letter not yet replayed or discarded
  --json         machine-readable output (list)`,
  options: {
    offset: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values, out }) {
    const [sub, group] = positionals;
    if (sub !== 'list' && sub !== 'replay' && sub !== 'discard')
      throw new UsageError(`expected list, replay or discard, got ${sub ? `"${sub}"` : 'nothing'}`);
    if (!group) throw new UsageError('missing <group>');
    return withStackOps(async (ops) => {
      const letters = await ops.deadLetters(group);
      if (sub === 'list') {
        if (values.json) out(toJson(letters, 2));
        else {
          const table = letters.map((d) => ({
            offset: d.dlqOffset,
            source: `${d.letter?.topic}[${d.letter?.partition}]@${d.letter?.offset}`,
            error: String(d.letter?.errorCode ?? '?'),
            attempts: String(d.letter?.attempts ?? '?'),
            message: String(d.letter?.errorMessage ?? '').slice(0, 80),
            action: d.action ?? '-',
          }));
          for (const line of formatTable(table, [
            'offset',
            'source',
            'error',
            'attempts',
            'message',
            'action',
          ]))
            out(line);
          out(
            `(${letters.length} dead letter(s) for ${group}; ${letters.filter((e) => !e.action).length} open)`,
          );
        }
        return 0;
      }
      const wanted = Array.isArray(values.offset) ? values.offset.map(String) : [];
      const chosen = selectDeadLetters(group, letters, wanted, values.all === true);
      const action = sub === 'replay' ? 'replayed' : 'discarded';
      await ops.actOnDeadLetters(group, chosen, action, who());
      out(`${action} ${chosen.length} dead letter(s) of ${group}`);
      return 0;
    });
  },
};
