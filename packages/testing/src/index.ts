import { randomBytes } from 'node:crypto';
import { createKafka, createPgPool, createRedis, type ResolvedConfig, resolveConfig } from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
// The harness observes the real stack from outside, with the drivers' own types (the SDK exports none).
import type { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import type { Pool } from 'pg';

/**
 * Test isolation on the real stack: every test gets its own topic, consumer group, Postgres schema and
 * Redis key prefix, and `cleanup()` removes them. Names share one run id so leftovers of a crashed run
 * can be found (they all start with `t_`/`t-`).
 */
export function uniqueName(prefix: string, separator = '-'): string {
  const id = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  return `${prefix}${separator}${id}`;
}

export interface TopicOptions {
  partitions?: number;
  configEntries?: { name: string; value: string }[];
  /** Which brokers hold each partition, the first the preferred leader (multi-broker tests). */
  replicaAssignment?: { partition: number; replicas: number[] }[];
}

/**
 * A Postgres schema of the test's own with every Accord migration applied: tables, functions and grants land
 * there (search_path), so tests of owners, archives and pipelines never see each other's rows.
 */
export class TestDatabase {
  readonly schema = uniqueName('t_schema', '_');

  constructor(private readonly baseUrl: string) {}

  /** DATABASE_URL scoped to this schema, optionally logging in as another role (e.g. accord_owner_order). */
  url(role?: string): string {
    const url = new URL(this.baseUrl);
    if (role) url.username = role;
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    return url.toString();
  }

  /** Applies the migrations of `dir` into the schema (creating it). */
  async migrate(dir: string): Promise<void> {
    await migrate(this.baseUrl, dir, { schema: this.schema });
  }
}

export class TestContext {
  readonly config: ResolvedConfig;
  readonly kafka: Kafka;
  private admin: Admin | undefined;
  private pool: Pool | undefined;
  private readonly redisClients: Redis[] = [];
  private readonly cleanups: (() => Promise<void>)[] = [];

  constructor(config: ResolvedConfig = resolveConfig()) {
    this.config = config;
    this.kafka = createKafka(config);
  }

  /** A shared admin client, connected on first use and disconnected by cleanup(). */
  async kafkaAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /** A pool on the test database (DATABASE_URL), ended by cleanup(). */
  pg(): Pool {
    this.pool ??= createPgPool(this.config.postgres.url, { max: 4 });
    return this.pool;
  }

  /** Creates a topic with a unique name; deleted by cleanup(). */
  async createTopic(options: TopicOptions = {}): Promise<string> {
    const topic = uniqueName('t-topic');
    const admin = await this.kafkaAdmin();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        options.replicaAssignment
          ? {
              topic,
              replicaAssignment: options.replicaAssignment,
              configEntries: options.configEntries ?? [],
            }
          : { topic, numPartitions: options.partitions ?? 1, configEntries: options.configEntries ?? [] },
      ],
    });
    this.cleanups.push(async () => {
      await admin.deleteTopics({ topics: [topic] });
    });
    return topic;
  }

  /** A unique consumer-group id; the group is deleted by cleanup() (it must be empty by then). */
  group(): string {
    const group = uniqueName('t-group');
    this.cleanups.push(async () => {
      const admin = await this.kafkaAdmin();
      const { groups } = await admin.listGroups();
      if (groups.some((g) => g.groupId === group)) await admin.deleteGroups([group]);
    });
    return group;
  }

  /**
   * A plain kafkajs consumer (not an Accord pipeline) joined to `group` on `topic`, e.g. a member that never
   * answers Accord's control channel. Resolves once it joined; call the result to make it leave.
   */
  async plainMember(group: string, topic: string): Promise<() => Promise<void>> {
    const member = this.kafka.consumer({ groupId: group, maxWaitTimeInMs: 200 });
    await member.connect();
    let joined = false;
    member.on(member.events.GROUP_JOIN, () => {
      joined = true;
    });
    try {
      await member.subscribe({ topic });
      await member.run({ eachMessage: async () => {} });
      await eventually(() => (joined ? true : undefined), { what: `a plain consumer in ${group}` });
    } catch (error) {
      await member.disconnect();
      throw error;
    }
    return () => member.disconnect();
  }

  /** Creates a unique Postgres schema; dropped (cascade) by cleanup(). */
  async createSchema(): Promise<string> {
    const schema = uniqueName('t_schema', '_');
    // Identifiers cannot be bound; the name is generated here from [a-z0-9_] only.
    await this.pg().query(`create schema "${schema}"`);
    this.cleanups.push(async () => {
      await this.pg().query(`drop schema if exists "${schema}" cascade`);
    });
    return schema;
  }

  /** A migrated Postgres schema of the test's own (see TestDatabase); dropped (cascade) by cleanup(). */
  database(): TestDatabase {
    const db = new TestDatabase(this.config.postgres.url);
    this.cleanups.push(async () => {
      await this.pg().query(`drop schema if exists "${db.schema}" cascade`);
    });
    return db;
  }

  /** A unique Redis key prefix (ending in ':'); its keys are deleted by cleanup(). */
  redisPrefix(): string {
    const prefix = `${uniqueName('t-redis')}:`;
    this.cleanups.push(async () => {
      const redis = this.redis();
      await redis.connect().catch(() => {});
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    });
    return prefix;
  }

  /** A Redis client (lazy connect), disconnected by cleanup(). */
  redis(keyPrefix?: string): Redis {
    const client = createRedis(this.config.redis.url, keyPrefix ? { keyPrefix } : {});
    this.redisClients.push(client);
    return client;
  }

  /** Registers an extra cleanup step, run before the built-in ones (last registered first). */
  onCleanup(step: () => Promise<void>): void {
    this.cleanups.push(step);
  }

  /** Runs every cleanup step (last registered first), then closes the clients. Reports all failures. */
  async cleanup(): Promise<void> {
    const failures: unknown[] = [];
    for (const step of this.cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    await this.admin?.disconnect().catch(() => {});
    this.admin = undefined;
    for (const client of this.redisClients.splice(0)) client.disconnect();
    await this.pool?.end().catch(() => {});
    this.pool = undefined;
    if (failures.length)
      throw new AggregateError(failures, `test cleanup failed (${failures.length} step(s))`);
  }
}

/** Awaits a condition instead of sleeping: polls `probe` until it returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  {
    timeoutMs = 30000,
    intervalMs = 100,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const suffix = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${typeof what === 'function' ? what() : what}${suffix}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
