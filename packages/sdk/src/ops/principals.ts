import type { ResolvedConfig } from '../config';
import { ensureSecret } from '../config/secrets';
import { AccordError } from '../errors';
import type { SomeCatalog } from '../events/catalog';
import { createKafka } from '../infra/clients';
import {
  grantKafkaAccess,
  type KafkaAccess,
  revokeKafkaAccess,
  upsertScramUsers,
} from '../infra/kafka-security';

/**
 * Who may do what on Kafka. A service logs in to Kafka under the name of its Postgres role (one identity
 * per service across both), and its ACLs follow ownership:
 *   accord_owner_<e>   reads <e>'s proposals, alone writes <e>'s events topic (entity events, decisions)
 *   accord_agent_<n>   reads what its manifest declares, writes proposals and the topics it declares
 *   accord_archive     reads every topic, writes nothing (but its dead letters)
 *   accord_features    reads every topic, writes nothing (but its dead letters)
 *   accord_logs        reads and writes the logs.* topics of the log pipeline
 * Every consumer group comes with its dead-letter topic <group>.dlq (created on first use).
 * A name ending with '*' is a prefix.
 */
export type PlatformService = 'accord_archive' | 'accord_features' | 'accord_logs';
export const PLATFORM_SERVICES: PlatformService[] = ['accord_archive', 'accord_features', 'accord_logs'];

const prefix = (namespace: string | undefined) => (namespace ? `${namespace}.` : '');

export function serviceAccess(role: PlatformService, namespace?: string): KafkaAccess {
  const ns = prefix(namespace);
  switch (role) {
    case 'accord_archive':
      // Its default group is accord-archive; an operator may name others (archive --group …-archive-2).
      return { read: ['*'], write: [], groups: [`${ns}accord-archive*`, `${ns}archive*`] };
    case 'accord_features':
      return { read: ['*'], write: [], groups: [`${ns}features*`] };
    case 'accord_logs':
      return { read: [`${ns}logs.*`], write: [`${ns}logs.*`], groups: [`${ns}log-*`] };
  }
}

export function ownerRole(entityType: string): string {
  return `accord_owner_${entityType}`;
}

/** The owner of `entityType`: its proposals in, its events out (the catalog knows the topics). */
export function ownerAccess(catalog: SomeCatalog, entityType: string, namespace?: string): KafkaAccess {
  const ns = prefix(namespace);
  const domain = catalog.domainOfEntity(entityType);
  return {
    read: [`${ns}${domain}.${entityType}.proposals`],
    write: [`${ns}${domain}.${entityType}.events`],
    groups: [`${ns}owner-${entityType}*`],
  };
}

/** An agent: reads what it consumes, writes proposals to the owners it names and the events it emits. */
export function agentAccess(options: {
  reads: string[];
  proposals: string[];
  emits: string[];
  groups: string[];
}): KafkaAccess {
  const write = [...new Set([...options.proposals, ...options.emits])];
  return { read: [...new Set(options.reads)], write, groups: options.groups };
}

/**
 * Makes `principal` able to log in (its password: the local stack's secret, created once; its SCRAM
 * credentials written again each time, which also heals a re-formatted cluster) and grants it `access`.
 * Needs an admin principal. Returns the password, for a process that is started with it.
 */
export async function provisionPrincipal(
  config: ResolvedConfig,
  principal: string,
  access: KafkaAccess,
  env: Record<string, string | undefined> = process.env,
): Promise<{ password: string; acls: number }> {
  const [done] = await provisionPrincipals(config, [[principal, access]], env);
  return done as { password: string; acls: number };
}

/** provisionPrincipal for several at once: one credentials request, one admin connection for the ACLs. */
export async function provisionPrincipals(
  config: ResolvedConfig,
  principals: [string, KafkaAccess][],
  env: Record<string, string | undefined> = process.env,
): Promise<{ password: string; acls: number }[]> {
  if (!config.kafka.sasl)
    throw new AccordError(
      'CONFIG_INVALID',
      `cannot create the Kafka principals ${principals.map(([p]) => p).join(', ')}: this process has no Kafka credentials (KAFKA_SASL_USERNAME, or the local stack's accord-admin secret)`,
    );
  const users = principals.map(([name]) => ({ name, password: ensureSecret('kafka', name, env).value }));
  await upsertScramUsers(config, users);
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const done: { password: string; acls: number }[] = [];
    for (const [i, [name, access]] of principals.entries())
      done.push({ password: users[i]?.password ?? '', acls: await grantKafkaAccess(admin, name, access) });
    return done;
  } finally {
    await admin.disconnect();
  }
}

/** Removes a principal: its ACLs and its SCRAM credentials (its local secret file is the caller's to remove). */
export async function removePrincipal(config: ResolvedConfig, principal: string): Promise<number> {
  const acls = await revokeKafkaAccess(createKafka(config), principal);
  await upsertScramUsers(config, [], [principal]);
  return acls;
}
