import { AccordError } from '../errors';
import { EVENT_ENTITY_TYPES, SCHEMAS, type SchemaName } from '../schemas/types.generated';

/**
 * Topic names, in one place. Domain events of an entity type live on `<domain>.<entity>.events`, keyed by
 * entity id: every event of one entity lands on one partition, so consumers see them in order.
 * Proposals to an entity's owner go to `<domain>.<entity>.proposals`; a pipeline's dead letters to `<group>.dlq`.
 */
export const EVENTS_TOPIC_PATTERN = /^[a-z0-9_-]+\.[a-z0-9_]+\.events$/;
const NAME_PART = /^[a-z][a-z0-9_]*$/;

/** accord.commerce.OrderPlaced → commerce */
export function domainOf(eventType: string): string {
  const parts = eventType.split('.');
  return parts.length >= 3 ? (parts[parts.length - 2] ?? '') : '';
}

/** The entity type an event type is about, from its schema's `accord.entity` attribute. */
export function entityTypeOf(eventType: string): string | undefined {
  return (EVENT_ENTITY_TYPES as Record<string, string>)[eventType];
}

/** commerce for order, logs for raw_log: the domain of the event types about that entity. */
export function domainOfEntity(entityType: string): string {
  for (const [eventType, entity] of Object.entries(EVENT_ENTITY_TYPES as Record<string, string>)) {
    if (entity === entityType) return domainOf(eventType);
  }
  const known = [...new Set(Object.values(EVENT_ENTITY_TYPES as Record<string, string>))].sort().join(', ');
  throw new AccordError('EVENT_INVALID', `unknown entity type "${entityType}" (known: ${known})`);
}

function part(name: string, value: string): string {
  if (!NAME_PART.test(value))
    throw new AccordError('EVENT_INVALID', `${name} "${value}" must match ${NAME_PART}`);
  return value;
}

export function eventsTopic(entityType: string, domain = domainOfEntity(entityType)): string {
  return `${part('domain', domain)}.${part('entity type', entityType)}.events`;
}

export function proposalsTopic(entityType: string, domain = domainOfEntity(entityType)): string {
  return `${part('domain', domain)}.${part('entity type', entityType)}.proposals`;
}

export function deadLetterTopic(group: string): string {
  return `${group}.dlq`;
}

/** Event types: the catalog's records that carry an envelope. */
export type EventName = {
  [K in SchemaName]: (typeof SCHEMAS)[K] extends { fields: readonly [{ name: 'envelope' }, ...unknown[]] }
    ? K
    : never;
}[SchemaName];

export function isEventName(name: string): name is EventName {
  const schema = (SCHEMAS as Record<string, { fields?: readonly { name: string }[] }>)[name];
  return schema?.fields?.[0]?.name === 'envelope';
}

/** Accepts a full name (accord.commerce.OrderPlaced) or a unique short one (OrderPlaced). */
export function resolveEventName(name: string): EventName {
  if (isEventName(name)) return name;
  const matches = Object.keys(SCHEMAS).filter((full) => full.endsWith(`.${name}`) && isEventName(full));
  if (matches.length === 1) return matches[0] as EventName;
  const known = Object.keys(SCHEMAS).filter(isEventName).join(', ');
  throw new AccordError(
    'EVENT_TYPE_UNKNOWN',
    matches.length > 1
      ? `event type "${name}" is ambiguous: ${matches.join(', ')}`
      : `unknown event type "${name}" (known: ${known})`,
  );
}
