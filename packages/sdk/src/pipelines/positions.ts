import type { Admin } from 'kafkajs';
import { AccordError } from '../errors';

/** Where a consumer starts on a topic: its earliest or latest offsets, or the first offsets at or after a time. */
export type StartPosition = 'earliest' | 'latest' | Date;

export function parseStartPosition(raw: string, option = '--from'): StartPosition {
  if (raw === 'earliest' || raw === 'latest') return raw;
  const time = Date.parse(raw);
  if (Number.isNaN(time))
    throw new AccordError('USAGE', `${option} must be earliest, latest or an ISO time, got "${raw}"`);
  return new Date(time);
}

/** Per-partition offsets of a topic for a start position (a time resolves to the first offset at or after it). */
export async function resolvePositions(
  admin: Admin,
  topic: string,
  from: StartPosition,
): Promise<{ partition: number; offset: string }[]> {
  if (from instanceof Date) return admin.fetchTopicOffsetsByTimestamp(topic, from.getTime());
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.map((o) => ({ partition: o.partition, offset: from === 'earliest' ? o.low : o.high }));
}

/** True while the group has members (live, or dead but not yet expired): admin.setOffsets would wait on them. */
export async function groupIsRunning(admin: Admin, group: string): Promise<boolean> {
  const { groups } = await admin.describeGroups([group]);
  const state = groups[0]?.state ?? 'Dead';
  return state !== 'Empty' && state !== 'Dead';
}
