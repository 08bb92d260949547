import type { ResolvedConfig } from '../config';
import type { SomeCatalog } from '../events/catalog';
import { applyTopics, type TopicApplyResult, type TopicDeclaration } from '../events/topics-as-code';
import { createKafka } from '../infra/clients';
import { RegistryHttpClient } from '../schemas/registry-client';

/**
 * Applies the declared topics, then the compatibility of the subjects of the event types they carry
 * (which event types an events topic carries is the catalog's knowledge).
 */
export async function applyDeclaredTopics(
  config: ResolvedConfig,
  declarations: TopicDeclaration[],
  catalog: SomeCatalog,
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
    const subjects = catalog
      .entityTypes()
      .filter((entity) => catalog.eventsTopic(entity) === d.name)
      .flatMap((entity) => catalog.eventTypesOf(entity));
    for (const subject of subjects) {
      if ((await registry.subjectCompatibility(subject)) !== d.compatibility) {
        await registry.setSubjectCompatibility(subject, d.compatibility);
      }
    }
  }
  return results;
}

/** The declared topics against what the broker has: unchanged, or drift (missing, other partition count). */
export async function compareDeclaredTopics(
  config: ResolvedConfig,
  declarations: TopicDeclaration[],
): Promise<TopicApplyResult[]> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = declarations.filter((d) => existing.has(d.name));
    const metadata = present.length
      ? await admin.fetchTopicMetadata({ topics: present.map((d) => d.name) })
      : { topics: [] };
    return declarations.map((d) => {
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
