import { readFileSync } from 'node:fs';
import type { Admin } from 'kafkajs';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { COMPATIBILITY_MODES, type CompatibilityMode } from '../schemas/compatibility';
import { formatIssues } from '../validation';

export interface TopicDeclaration {
  name: string;
  partitions: number;
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  /** -1 keeps records forever. */
  retentionMs: number;
  /** Compatibility of the subjects of the event types carried by this topic. */
  compatibility: CompatibilityMode;
  /** Copies of each partition; default the cluster's (1 on one broker, 3 on `accord up --brokers 3`). */
  replicationFactor?: number;
  /** Copies that must have a write before it is acknowledged (acks=all); default the cluster's (1, or 2). */
  minInsyncReplicas?: number;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

const Declaration = z.strictObject({
  name: z.string().regex(TOPIC_NAME, `must match ${TOPIC_NAME}`),
  partitions: z.int().min(1, 'must be a positive integer'),
  cleanupPolicy: z.enum(['delete', 'compact', 'compact,delete']),
  retentionMs: z.int().refine((v) => v >= 1 || v === -1, 'must be a positive integer or -1 (forever)'),
  compatibility: z.enum(COMPATIBILITY_MODES),
  replicationFactor: z.int().min(1, 'must be a positive integer').optional(),
  minInsyncReplicas: z.int().min(1, 'must be a positive integer').optional(),
});
const TopicsFile = z.strictObject({
  $comment: z.string().optional(),
  defaults: Declaration.partial().optional(),
  topics: z.array(z.record(z.string(), z.unknown())),
});

/** Reads and validates infra/kafka/topics.json; errors name the file, the topic and the field. */
export function loadTopicDeclarations(file: string): TopicDeclaration[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: ${(error as Error).message}`);
  }
  const raw = TopicsFile.safeParse(json);
  if (!raw.success) throw new ConfigError(`${file}: ${formatIssues(raw.error.issues)}`);
  const seen = new Set<string>();
  return raw.data.topics.map((topic, i) => {
    const { $comment: _comment, ...fields } = topic;
    const merged = { ...raw.data.defaults, ...fields };
    const where = `${file}: topics[${i}]${typeof merged.name === 'string' ? ` (${merged.name})` : ''}`;
    const t = Declaration.safeParse(merged, { reportInput: true });
    if (!t.success) throw new ConfigError(`${where}: ${formatIssues(t.error.issues)}`);
    if (seen.has(t.data.name)) throw new ConfigError(`${where}: declared twice`);
    seen.add(t.data.name);
    return t.data;
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
    ...(t.minInsyncReplicas === undefined
      ? []
      : [{ name: 'min.insync.replicas', value: String(t.minInsyncReplicas) }]),
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
        ...(d.replicationFactor === undefined ? {} : { replicationFactor: d.replicationFactor }),
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
      configNames: ['cleanup.policy', 'retention.ms', 'min.insync.replicas'],
    })),
  });
  for (const d of present) {
    const found = metadata.topics.find((t) => t.name === d.name)?.partitions ?? [];
    const partitions = found.length;
    const replicas = found[0]?.replicas.length ?? 0;
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
    if (d.replicationFactor !== undefined && replicas !== d.replicationFactor) {
      results.push({
        topic: d.name,
        action: 'drift',
        detail: `has ${replicas} replica(s) per partition, declared ${d.replicationFactor}: not changed automatically (a reassignment moves data between brokers: kafka-reassign-partitions)`,
      });
    } else if (partitions !== d.partitions) {
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
