import { AccordError } from '../errors';

/**
 * Topic names, in one place. Domain events of an entity type live on `<domain>.<entity>.events`, keyed by
 * entity id: every event of one entity lands on one partition, so consumers see them in order.
 * Proposals to an entity's owner go to `<domain>.<entity>.proposals`; a pipeline's dead letters to `<group>.dlq`.
 * Which domain an entity type belongs to is the catalog's knowledge (`catalog.eventsTopic(entityType)`).
 */
export const EVENTS_TOPIC_PATTERN = /^[a-z0-9_-]+\.[a-z0-9_]+\.events$/;
const NAME_PART = /^[a-z][a-z0-9_]*$/;

function part(name: string, value: string): string {
  if (!NAME_PART.test(value))
    throw new AccordError('EVENT_INVALID', `${name} "${value}" must match ${NAME_PART}`);
  return value;
}

export function eventsTopic(entityType: string, domain: string): string {
  return `${part('domain', domain)}.${part('entity type', entityType)}.events`;
}

export function proposalsTopic(entityType: string, domain: string): string {
  return `${part('domain', domain)}.${part('entity type', entityType)}.proposals`;
}

export function deadLetterTopic(group: string): string {
  return `${group}.dlq`;
}
