import { pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type Admin,
  type Kafka,
  ResourcePatternTypes,
} from 'kafkajs';
import type { ResolvedConfig } from '../config';
import { AccordError } from '../errors';
import { sendRaw } from './kafka-raw';
import { withRetry } from './retry';

// kafkajs has no AlterUserScramCredentials (API 51, KIP-554): encoded here, sent by kafka-raw.ts.
const Encoder = require('kafkajs/src/protocol/encoder');
const Decoder = require('kafkajs/src/protocol/decoder');

const SCRAM_SHA_512 = 2; // Kafka's ScramMechanism enum: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512
const ITERATIONS = 8192;

interface Reader {
  readInt16(): number;
  readInt32(): number;
  readUVarIntString(): string | null;
  readUVarIntArray<T>(reader: (d: Reader) => T): T[] | null;
  readTaggedFields(): void;
}

/**
 * Creates or replaces SCRAM-SHA-512 credentials, and deletes others (needs ALTER on the cluster: an admin
 * principal). The client salts and hashes: the password itself never travels.
 */
export async function upsertScramUsers(
  config: ResolvedConfig,
  users: { name: string; password: string }[],
  deletions: string[] = [],
): Promise<void> {
  if (users.length === 0 && deletions.length === 0) return;
  const upsertions = users.map((u) => {
    const salt = randomBytes(32);
    const salted = pbkdf2Sync(u.password.normalize('NFKC'), salt, ITERATIONS, 64, 'sha512');
    return new Encoder()
      .writeUVarIntString(u.name)
      .writeInt8(SCRAM_SHA_512)
      .writeInt32(ITERATIONS)
      .writeUVarIntBytes(salt)
      .writeUVarIntBytes(salted)
      .writeUVarInt(0);
  });
  const removals = deletions.map((name) =>
    new Encoder().writeUVarIntString(name).writeInt8(SCRAM_SHA_512).writeUVarInt(0),
  );
  const body: Buffer = new Encoder()
    .writeUVarInt(0) // request header tagged fields (header v2)
    .writeUVarIntArray(removals, 'object')
    .writeUVarIntArray(upsertions, 'object')
    .writeUVarInt(0).buffer;
  // Idempotent (the same passwords again): a request that timed out or lost its connection is sent again,
  // to the next broker, three tries in all. A fault run's deploy on a loaded three-broker cluster once saw
  // its only try time out after 30 s, and the whole deploy failed.
  const brokers = config.kafka.brokers;
  let tried = 0;
  const answer = await withRetry(
    () =>
      sendRaw(brokers[tried++ % brokers.length] as string, config.kafka.sasl, {
        apiKey: 51,
        apiVersion: 0,
        apiName: 'AlterUserScramCredentials',
        body,
        clientId: `${config.kafka.clientId}-scram`,
        timeoutMs: 30000,
      }),
    { attempts: 3, retryIf: () => true },
  );
  const r: Reader = new Decoder(answer);
  r.readTaggedFields(); // response header v1
  r.readInt32(); // throttle time
  const results =
    r.readUVarIntArray((d) => {
      const user = d.readUVarIntString();
      const errorCode = d.readInt16();
      const message = d.readUVarIntString();
      d.readTaggedFields();
      return { user, errorCode, message };
    }) ?? [];
  const failed = results.filter((x) => x.errorCode !== 0);
  if (failed.length) {
    throw new AccordError(
      'KAFKA_UNAVAILABLE',
      `Kafka refused SCRAM credentials for ${failed.map((f) => `${f.user} (error ${f.errorCode}${f.message ? `: ${f.message}` : ''})`).join(', ')}`,
    );
  }
}

/** What one principal may do; every name is literal unless it ends with '*' (a prefix). */
export interface KafkaAccess {
  /** Topics it consumes (READ, DESCRIBE). '*' alone: every topic. */
  read: string[];
  /** Topics it produces to (WRITE, DESCRIBE). */
  write: string[];
  /** Consumer groups it joins and commits for (READ, DESCRIBE); each may create and write <group>.dlq. */
  groups: string[];
}

function pattern(name: string): { resourceName: string; resourcePatternType: ResourcePatternTypes } {
  if (name === '*') return { resourceName: '*', resourcePatternType: ResourcePatternTypes.LITERAL };
  if (name.endsWith('*'))
    return { resourceName: name.slice(0, -1), resourcePatternType: ResourcePatternTypes.PREFIXED };
  return { resourceName: name, resourcePatternType: ResourcePatternTypes.LITERAL };
}

/** The ACL entries (allow, any host) that give `principal` exactly `access`. */
export function aclEntries(principal: string, access: KafkaAccess) {
  const entry = (resourceType: AclResourceTypes, name: string, operation: AclOperationTypes) => ({
    resourceType,
    ...pattern(name),
    principal: `User:${principal}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const topic = AclResourceTypes.TOPIC;
  const group = AclResourceTypes.GROUP;
  return [
    ...access.read.flatMap((t) => [
      entry(topic, t, AclOperationTypes.READ),
      entry(topic, t, AclOperationTypes.DESCRIBE),
    ]),
    ...access.write.flatMap((t) => [
      entry(topic, t, AclOperationTypes.WRITE),
      entry(topic, t, AclOperationTypes.DESCRIBE),
    ]),
    ...access.groups.flatMap((g) => {
      // Its dead letters: the pipeline creates <group>.dlq on first use and writes there (for groups
      // named by a prefix, the topics under that prefix).
      const dlq = g.endsWith('*') ? g : `${g}.dlq`;
      return [
        entry(group, g, AclOperationTypes.READ),
        entry(group, g, AclOperationTypes.DESCRIBE),
        entry(topic, dlq, AclOperationTypes.CREATE),
        entry(topic, dlq, AclOperationTypes.WRITE),
        entry(topic, dlq, AclOperationTypes.DESCRIBE),
      ];
    }),
  ];
}

/** Removes every ACL of `principal` (a test's, a retired agent's). */
export async function revokeKafkaAccess(kafka: Kafka, principal: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { filterResponses } = await admin.deleteAcls({
      filters: [
        {
          resourceType: AclResourceTypes.ANY,
          resourcePatternType: ResourcePatternTypes.ANY,
          principal: `User:${principal}`,
          host: '*',
          operation: AclOperationTypes.ANY,
          permissionType: AclPermissionTypes.ANY,
        },
      ],
    });
    return filterResponses.reduce((n, r) => n + r.matchingAcls.length, 0);
  } finally {
    await admin.disconnect();
  }
}

/** Adds the ACLs (idempotent: Kafka keeps one copy of an entry). */
export async function grantKafkaAccess(
  kafka: Kafka | Admin,
  principal: string,
  access: KafkaAccess,
): Promise<number> {
  const admin = 'admin' in kafka ? kafka.admin() : kafka;
  const own = 'admin' in kafka;
  if (own) await admin.connect();
  try {
    const acl = aclEntries(principal, access);
    if (acl.length) await admin.createAcls({ acl });
    return acl.length;
  } finally {
    if (own) await admin.disconnect();
  }
}

export interface AclRow {
  principal: string;
  resource: string;
  name: string;
  pattern: string;
  operation: string;
}

/** Every ALLOW entry on the cluster, one row per principal, resource and operation. */
export async function listAcls(kafka: Kafka): Promise<AclRow[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    const label = <T extends Record<string, string | number>>(e: T, v: number) =>
      (Object.entries(e).find(([, n]) => n === v)?.[0] ?? String(v)).toLowerCase();
    return resources.flatMap((r) =>
      r.acls.map((a) => ({
        principal: a.principal.replace(/^User:/, ''),
        resource: label(AclResourceTypes, r.resourceType),
        name: r.resourceName,
        pattern: label(ResourcePatternTypes, r.resourcePatternType),
        operation: label(AclOperationTypes, a.operation),
      })),
    );
  } finally {
    await admin.disconnect();
  }
}
