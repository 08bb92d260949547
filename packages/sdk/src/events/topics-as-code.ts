import { readFileSync } from 'node:fs';
import type { Admin } from 'kafkajs';
import { ConfigError } from '../errors';
import { type CompatibilityMode, isCompatibilityMode } from '../schemas/compatibility';

export interface TopicDeclaration {
  name: string;
  partitions: number;
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  /** -1 keeps records forever. */
  retentionMs: number;
  /** Compatibility of the subjects of the event types carried by this topic. */
  compatibility: CompatibilityMode;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Reads and validates infra/kafka/topics.json; errors name the topic and the field. */
export function loadTopicDeclarations(file: string): TopicDeclaration[] {
  let raw: { defaults?: Partial<TopicDeclaration>; topics?: Partial<TopicDeclaration>[] };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(raw.topics)) throw new ConfigError(`${file}: "topics" must be an array`);
  const seen = new Set<string>();
  return raw.topics.map((topic, i) => {
    const t = { ...raw.defaults, ...topic };
    const where = `${file}: topics[${i}]${typeof t.name === 'string' ? ` (${t.name})` : ''}`;
    if (typeof t.name !== 'string' || !TOPIC_NAME.test(t.name))
      throw new ConfigError(`${where}: "name" must match ${TOPIC_NAME}`);
    if (seen.has(t.name)) throw new ConfigError(`${where}: declared twice`);
    seen.add(t.name);
    if (!Number.isInteger(t.partitions) || (t.partitions ?? 0) < 1)
      throw new ConfigError(`${where}: "partitions" must be a positive integer`);
    if (!['delete', 'compact', 'compact,delete'].includes(t.cleanupPolicy ?? '')) {
      throw new ConfigError(`${where}: "cleanupPolicy" must be delete, compact or compact,delete`);
    }
    if (!Number.isInteger(t.retentionMs) || ((t.retentionMs ?? 0) < 1 && t.retentionMs !== -1)) {
      throw new ConfigError(`${where}: "retentionMs" must be a positive integer or -1 (forever)`);
    }
    if (!isCompatibilityMode(t.compatibility))
      throw new ConfigError(`${where}: "compatibility" is not a compatibility mode`);
    return t as TopicDeclaration;
  });
}

export interface TopicApplyResult {
  topic: string;
  action: 'created' | 'updated' | 'unchanged' | 'drift';
  detail: string;
}

function configEntries(t: TopicDeclaration) {
  return [
    { name: 'cleanup.policy', value: t.cleanupPolicy },
    { name: 'retention.ms', value: String(t.retentionMs) },
  ];
}

/**
 * Creates missing topics and brings configs in line, idempotently. Partition counts are never changed:
 * adding partitions moves keys to other partitions and breaks per-entity order, so a difference is
 * reported as drift for an operator to decide.
 */
export async function applyTopics(
  admin: Admin,
  declarations: TopicDeclaration[],
): Promise<TopicApplyResult[]> {
  const existing = new Set(await admin.listTopics());
  const missing = declarations.filter((d) => !existing.has(d.name));
  if (missing.length) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((d) => ({
        topic: d.name,
        numPartitions: d.partitions,
        configEntries: configEntries(d),
      })),
    });
  }
  const results: TopicApplyResult[] = missing.map((d) => ({
    topic: d.name,
    action: 'created',
    detail: `${d.partitions} partitions, retention ${d.retentionMs === -1 ? 'forever' : `${d.retentionMs} ms`}`,
  }));
  const present = declarations.filter((d) => existing.has(d.name));
  if (present.length === 0) return results;

  const metadata = await admin.fetchTopicMetadata({ topics: present.map((d) => d.name) });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((d) => ({
      type: 2 /* TOPIC */,
      name: d.name,
      configNames: ['cleanup.policy', 'retention.ms'],
    })),
  });
  for (const d of present) {
    const partitions = metadata.topics.find((t) => t.name === d.name)?.partitions.length ?? 0;
    const current = new Map(
      (configs.resources.find((r) => r.resourceName === d.name)?.configEntries ?? []).map((c) => [
        c.configName,
        c.configValue,
      ]),
    );
    const wanted = configEntries(d).filter((e) => current.get(e.name) !== e.value);
    if (wanted.length) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: d.name, configEntries: configEntries(d) }],
      });
    }
    if (partitions !== d.partitions) {
      results.push({
        topic: d.name,
        action: 'drift',
        detail: `has ${partitions} partitions, declared ${d.partitions}: not changed automatically (changing the count moves keys between partitions and breaks per-entity order)`,
      });
    } else if (wanted.length) {
      results.push({
        topic: d.name,
        action: 'updated',
        detail: wanted.map((w) => `${w.name}=${w.value}`).join(', '),
      });
    } else {
      results.push({ topic: d.name, action: 'unchanged', detail: `${partitions} partitions` });
    }
  }
  return results;
}
