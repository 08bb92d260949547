import { createHash } from 'node:crypto';

/**
 * A UUID-shaped id derived from its parts (SHA-256, version nibble 5): the same parts give the same id, so
 * work done again (a redelivery, a restart, a replay with the same logic) produces the same event and
 * row ids, and writes made idempotent by them land once.
 */
export function deterministicId(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.map(String).join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
