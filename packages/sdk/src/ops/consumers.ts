import type { Admin } from 'kafkajs';
import { AccordError } from '../errors';
import type { SqlPool } from '../infra/sql';
import { CheckpointStore } from '../pipelines/checkpoints';
import { groupIsRunning, resolvePositions, type StartPosition } from '../pipelines/positions';
import { liveRef } from './lag';

export interface AddedConsumer {
  group: string;
  topic: string;
  positions: { partition: number; offset: string }[];
}

/**
 * Registers a new pipeline's starting checkpoint on a topic, so the consumer that joins later starts
 * exactly there (and Kafka's committed offsets say the same).
 */
export async function addConsumer(
  admin: Admin,
  pool: SqlPool,
  group: string,
  topic: string,
  from: StartPosition,
): Promise<AddedConsumer> {
  if (!(await admin.listTopics()).includes(topic))
    throw new AccordError('TOPIC_NOT_FOUND', `topic "${topic}" does not exist`);
  const store = new CheckpointStore(pool);
  const existing = await store.list(group, topic);
  if (existing.length) {
    throw new AccordError(
      'PIPELINE_INVALID',
      `group "${group}" already has checkpoints on ${topic} (${existing.map((r) => `[${r.partition}]@${r.kafkaOffset}`).join(' ')}): use accord replay to move it`,
    );
  }
  const positions = await resolvePositions(admin, topic, from);
  const log = await liveRef(admin, topic);
  await store.seed(
    group,
    group,
    positions.map((p) => ({ topic, ...p, log })),
  );
  if (!(await groupIsRunning(admin, group)))
    await admin.setOffsets({ groupId: group, topic, partitions: positions });
  return { group, topic, positions };
}
