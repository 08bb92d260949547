import { join, resolve } from 'node:path';
import { loadTopicDeclarations, UsageError } from '@accord/sdk';
import { applyDeclaredTopics, compareDeclaredTopics } from '@accord/sdk/ops';
import { projectCatalog } from '../catalog';
import { type Command, formatTable } from '../command';
import { loadStack } from '../stack';
import { projectRoot } from '../stack/paths';

export function topicsFile(file?: unknown): string {
  return typeof file === 'string' ? resolve(file) : join(projectRoot(), 'infra', 'kafka', 'topics.json');
}

export const topicsCommand: Command = {
  name: 'topics',
  summary: 'create or update the declared topics (infra/kafka/topics.json) and report drift',
  usage: 'accord topics apply|list [--file <topics.json>] [--json]',
  help: `Subcommands:
  apply   create missing topics, align their configs, set their subjects' compatibility; report drift
          (a partition count is never changed: that would move keys between partitions)
  list    the declared topics with what the broker has

Options:
  --file <path>   the declarations (default infra/kafka/topics.json)
  --json          machine-readable output

Exit code 1 when a topic has drifted from its declaration.`,
  options: { file: { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values, out, err }) {
    const [sub] = positionals;
    if (sub !== 'apply' && sub !== 'list')
      throw new UsageError(
        `expected apply or list, got ${sub ? `"${sub}"` : 'nothing'} (see: accord topics --help)`,
      );
    const { config } = loadStack();
    const declarations = loadTopicDeclarations(topicsFile(values.file));
    const rows =
      sub === 'apply'
        ? await applyDeclaredTopics(config, declarations, projectCatalog())
        : await compareDeclaredTopics(config, declarations);
    if (values.json) out(JSON.stringify(rows, null, 2));
    else
      for (const line of formatTable(
        rows.map((r) => ({ topic: r.topic, state: r.action, detail: r.detail })),
        ['topic', 'state', 'detail'],
      ))
        out(line);
    const drift = rows.filter((r) => r.action === 'drift');
    if (drift.length) {
      err(
        `accord topics: ${drift.length} topic(s) differ from ${topicsFile(values.file)}: ${drift.map((d) => d.topic).join(', ')}`,
      );
      return 1;
    }
    return 0;
  },
};
