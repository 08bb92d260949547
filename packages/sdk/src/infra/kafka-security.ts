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

// kafkajs has no AlterUserScramCredentials (API 51, KIP-554): it is sent over a kafkajs broker connection
// (which does the SASL handshake) with our own encoding. kafkajs 2.2.4 is frozen, so these internals are too.
const Broker = require('kafkajs/src/broker');
const ConnectionPool = require('kafkajs/src/network/connectionPool');
const socketFactory = require('kafkajs/src/network/socketFactory');
const { createLogger, LEVELS } = require('kafkajs/src/loggers');
const Encoder = require('kafkajs/src/protocol/encoder');

const SCRAM_SHA_512 = 2; // Kafka's ScramMechanism enum: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512
const ITERATIONS = 8192;

interface Decoder {
  readInt16(): number;
  readInt32(): number;
  readUVarIntString(): string | null;
  readUVarIntArray<T>(reader: (d: Decoder) => T): T[] | null;
  readTaggedFields(): void;
}

/** Creates or replaces SCRAM-SHA-512 credentials (needs ALTER on the cluster: an admin principal). */
export async function upsertScramUsers(
  config: ResolvedConfig,
  users: { name: string; password: string }[],
): Promise<void> {
  if (users.length === 0) return;
  const [host, port] = splitBroker(config.kafka.brokers[0] as string);
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
  const options = {
    host,
    port,
    logger,
    socketFactory: socketFactory(),
    sasl: config.kafka.sasl,
    clientId: `${config.kafka.clientId}-scram`,
    connectionTimeout: 3000,
    requestTimeout: 30000,
  };
  const broker = new Broker({
    connectionPool: new ConnectionPool(options),
    logger,
    allowAutoTopicCreation: false,
  });
  try {
    await broker.connect();
    const results: { user: string | null; errorCode: number; message: string | null }[] =
      await broker.connectionPool.send({
        request: {
          apiKey: 51,
          apiVersion: 0,
          apiName: 'AlterUserScramCredentials',
          encode: async () => {
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
            // The request header's tagged fields (header v2) come first, then the body: no deletions.
            return new Encoder()
              .writeUVarInt(0)
              .writeUVarInt(1)
              .writeUVarIntArray(upsertions, 'object')
              .writeUVarInt(0);
          },
        },
        response: {
          decode: async (raw: Buffer) => {
            const Decoder = require('kafkajs/src/protocol/decoder');
            const d: Decoder = new Decoder(raw);
            d.readTaggedFields(); // response header v1
            d.readInt32(); // throttle time
            const results = d.readUVarIntArray((r) => {
              const user = r.readUVarIntString();
              const errorCode = r.readInt16();
              const message = r.readUVarIntString();
              r.readTaggedFields();
              return { user, errorCode, message };
            });
            return results ?? [];
          },
          parse: async <T>(data: T) => data,
        },
      });
    const failed = results.filter((r) => r.errorCode !== 0);
    if (failed.length) {
      throw new AccordError(
        'KAFKA_UNAVAILABLE',
        `Kafka refused SCRAM credentials for ${failed.map((f) => `${f.user} (error ${f.errorCode}${f.message ? `: ${f.message}` : ''})`).join(', ')}`,
      );
    }
  } finally {
    await broker.disconnect().catch(() => {});
  }
}

function splitBroker(broker: string): [string, number] {
  const i = broker.lastIndexOf(':');
  return [broker.slice(0, i).replace(/^\[|\]$/g, ''), Number(broker.slice(i + 1))];
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
    ...access.groups.flatMap((g) => [
      entry(group, g, AclOperationTypes.READ),
      entry(group, g, AclOperationTypes.DESCRIBE),
      // Its dead letters: the pipeline creates <group>.dlq on first use and writes there.
      entry(topic, `${g}.dlq`, AclOperationTypes.CREATE),
      entry(topic, `${g}.dlq`, AclOperationTypes.WRITE),
      entry(topic, `${g}.dlq`, AclOperationTypes.DESCRIBE),
    ]),
  ];
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
