import { join, resolve } from 'node:path';
import {
  applyTopics,
  createKafka,
  EVENT_ENTITY_TYPES,
  eventsTopic,
  loadTopicDeclarations,
  RegistryHttpClient,
  type ResolvedConfig,
  type TopicApplyResult,
  type TopicDeclaration,
  UsageError,
} from '@accord/sdk';
import { type Command, formatTable } from '../command';
import { loadStack } from '../stack';
import { projectRoot } from '../stack/paths';

export function topicsFile(file?: unknown): string {
  return typeof file === 'string' ? resolve(file) : join(projectRoot(), 'infra', 'kafka', 'topics.json');
}

/** Applies the declared topics, then the compatibility of the subjects of the event types they carry. */
export async function applyDeclaredTopics(
  config: ResolvedConfig,
  declarations: TopicDeclaration[],
): Promise<TopicApplyResult[]> {
  const admin = createKafka(config).admin();
  await admin.connect();
  let results: TopicApplyResult[];
  try {
    results = await applyTopics(admin, declarations);
  } finally {
    await admin.disconnect();
  }
  const registry = new RegistryHttpClient(config.schemaRegistry.url);
  for (const d of declarations) {
    const subjects = Object.entries(EVENT_ENTITY_TYPES as Record<string, string>)
      .filter(([, entity]) => eventsTopic(entity) === d.name)
      .map(([eventType]) => eventType);
    for (const subject of subjects) {
      if ((await registry.subjectCompatibility(subject)) !== d.compatibility) {
        await registry.setSubjectCompatibility(subject, d.compatibility);
      }
    }
  }
  return results;
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
    let rows: TopicApplyResult[];
    if (sub === 'apply') rows = await applyDeclaredTopics(config, declarations);
    else {
      const admin = createKafka(config).admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const present = declarations.filter((d) => existing.has(d.name));
        const metadata = present.length
          ? await admin.fetchTopicMetadata({ topics: present.map((d) => d.name) })
          : { topics: [] };
        rows = declarations.map((d) => {
          const actual = metadata.topics.find((t) => t.name === d.name)?.partitions.length;
          if (actual === undefined)
            return { topic: d.name, action: 'drift' as const, detail: 'missing (run accord topics apply)' };
          if (actual !== d.partitions)
            return {
              topic: d.name,
              action: 'drift' as const,
              detail: `has ${actual} partitions, declared ${d.partitions}`,
            };
          return { topic: d.name, action: 'unchanged' as const, detail: `${actual} partitions` };
        });
      } finally {
        await admin.disconnect();
      }
    }
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
