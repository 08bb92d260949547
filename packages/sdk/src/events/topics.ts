import { AccordError } from '../errors';

/**
 * Topic names, in one place. Domain events of an entity type live on `<domain>.<entity>.events`, keyed by
 * entity id: every event of one entity lands on one partition, so consumers see them in order.
 * Proposals to an entity's owner go to `<domain>.<entity>.proposals`; a pipeline's dead letters to `<group>.dlq`.
 * Which domain an entity type belongs to is the catalog's knowledge (`catalog.eventsTopic(entityType)`).
 */
export const EVENTS_TOPIC_PATTERN = /^[a-z0-9_-]+\.[a-z0-9_]+\.events$/;
const NAME_PART = /^[a-z][a-z0-9_]*$/;
const NAMESPACE = /^[a-z0-9][a-z0-9_-]{0,60}$/;

/**
 * ACCORD_TOPIC_NAMESPACE puts every topic name derived from a catalog under `<namespace>.`: several
 * environments (or test runs) share one cluster without sharing topics. Read when a name is made, so a
 * process that sets it before it starts gets it everywhere.
 */
export function topicNamespace(env: Record<string, string | undefined> = process.env): string | undefined {
  const ns = env.ACCORD_TOPIC_NAMESPACE;
  if (ns === undefined || ns === '') return undefined;
  if (!NAMESPACE.test(ns))
    throw new AccordError('CONFIG_INVALID', `ACCORD_TOPIC_NAMESPACE "${ns}" must match ${NAMESPACE}`);
  return ns;
}

const namespaced = (name: string) => {
  const ns = topicNamespace();
  return ns ? `${ns}.${name}` : name;
};

/** A consumer group's name in the namespace (agents' and owners' default groups): `<namespace>.<name>`. */
export function namespacedGroup(name: string): string {
  return namespaced(name);
}

/** The domain events topics of this namespace (what the archive follows by default). */
export function eventsTopicPattern(): RegExp {
  const ns = topicNamespace();
  return ns
    ? new RegExp(`^${ns.replace(/[-]/g, '\\-')}\\.[a-z0-9_-]+\\.[a-z0-9_]+\\.events$`)
    : EVENTS_TOPIC_PATTERN;
}

function part(name: string, value: string): string {
  if (!NAME_PART.test(value))
    throw new AccordError('EVENT_INVALID', `${name} "${value}" must match ${NAME_PART}`);
  return value;
}

export function eventsTopic(entityType: string, domain: string): string {
  return namespaced(`${part('domain', domain)}.${part('entity type', entityType)}.events`);
}

export function proposalsTopic(entityType: string, domain: string): string {
  return namespaced(`${part('domain', domain)}.${part('entity type', entityType)}.proposals`);
}

export function deadLetterTopic(group: string): string {
  return `${group}.dlq`;
}
