import { join } from 'node:path';
import { loadSchemaCatalog, registerSchemaCatalog } from '@accord/schema-tools';
import {
  ADMIN_PRINCIPAL,
  createPgPool,
  describeError,
  describeKafkaAuth,
  ensureSecret,
  loadTopicDeclarations,
  type ResolvedConfig,
  readSecret,
  redactUrl,
  resolveConfig,
  secretsDir,
  serviceDatabaseUrl,
} from '@accord/sdk';
import {
  applyDeclaredTopics,
  checkKafka,
  checkPostgres,
  checkRedis,
  checkSchemaRegistry,
  type HealthReport,
  type KafkaAccess,
  needsRebind,
  ownerAccess,
  ownerRole,
  PLATFORM_SERVICES,
  provisionPrincipals,
  serviceAccess,
  setRolePasswords,
  withOps,
} from '@accord/sdk/ops';
import { projectCatalog } from '../catalog';
import { kafkaDown, kafkaUp, localBrokers, runningLocalKafka, runningLocalNodes } from './kafka';
import { type StackPaths, stackEnv, stackPaths } from './paths';
import { postgresDown, postgresUp } from './postgres';
import { redisDown, redisUp } from './redis';
import { localRegistryPort, registryDown, registryUp, runningLocalRegistry } from './registry';
import { readState } from './state';

export interface Stack {
  paths: StackPaths;
  config: ResolvedConfig;
  /** True when KAFKA_BROKERS names a cluster: Accord uses it and starts no broker. */
  kafkaExternal: boolean;
  /** True when SCHEMA_REGISTRY_URL names a registry: Accord uses it and starts none. */
  registryExternal: boolean;
  /**
   * DATABASE_URL as given: `up` creates the database, migrates and sets role passwords with it. Every
   * other command uses config.postgres.url, the operator's login (accord_operator; docs/security.md).
   */
  adminDatabaseUrl: string;
}

const OPERATOR_ROLE = 'accord_operator';

export function loadStack(env = process.env): Stack {
  const kafkaExternal = env.KAFKA_BROKERS !== undefined && env.KAFKA_BROKERS.trim() !== '';
  const registryExternal = env.SCHEMA_REGISTRY_URL !== undefined && env.SCHEMA_REGISTRY_URL.trim() !== '';
  const paths = stackPaths();
  // The operator's Kafka password exists before the broker does: `up` formats the storage with it.
  if (!kafkaExternal) ensureSecret('kafka', ADMIN_PRINCIPAL, stackEnv(paths, env));
  const options = {
    ...(kafkaExternal ? {} : { kafkaBrokers: localBrokers(paths, env) }),
    ...(registryExternal ? {} : { schemaRegistryUrl: `http://127.0.0.1:${localRegistryPort(env)}` }),
  };
  const adminDatabaseUrl = resolveConfig(options, stackEnv(paths, env)).postgres.url;
  const config = resolveConfig({ ...options, databaseUrl: operatorUrl(paths, env) }, stackEnv(paths, env));
  return { paths, config, kafkaExternal, registryExternal, adminDatabaseUrl };
}

/**
 * Operator commands log in as accord_operator: OPERATOR_DATABASE_URL, else DATABASE_URL with that role and
 * its local secret. Before the first `accord up` made the role (no secret yet), DATABASE_URL as given.
 */
function operatorUrl(paths: StackPaths, env: NodeJS.ProcessEnv): string | undefined {
  const senv = stackEnv(paths, env);
  if (env.OPERATOR_DATABASE_URL) return env.OPERATOR_DATABASE_URL;
  if (readSecret('postgres', OPERATOR_ROLE, senv) === undefined) return undefined;
  return serviceDatabaseUrl(OPERATOR_ROLE, 'OPERATOR_DATABASE_URL', senv);
}

/** Brings every component up, idempotently. Logs one line per step. */
export async function stackUp(
  stack: Stack,
  log: (line: string) => void,
  options: { brokers?: number } = {},
): Promise<void> {
  const kafka = await kafkaUp(stack.paths, stack.config, stack.kafkaExternal, log, options.brokers);
  // A cluster just made knows all its brokers now: bootstrap from every one of them.
  if (!stack.kafkaExternal) Object.assign(stack, { config: loadStack().config });
  switch (kafka.action) {
    case 'external':
      log(`kafka: using ${kafka.brokers.join(',')} (KAFKA_BROKERS)`);
      break;
    case 'already-running':
      log(
        `kafka: already running (pid ${kafka.pid}) on 127.0.0.1:${kafka.port}${kafka.nodes > 1 ? `, ${kafka.nodes} brokers` : ''}`,
      );
      break;
    case 'started':
      log(
        `kafka: ready on 127.0.0.1:${kafka.port} in ${kafka.seconds.toFixed(1)}s${kafka.nodes > 1 ? ` (${kafka.nodes} brokers, replication factor 3, min ISR 2${kafka.restarted.length ? `; restarted broker ${kafka.restarted.join(', ')}` : ''})` : ''}`,
      );
      break;
  }
  const pg = await postgresUp(stack.paths, stack.adminDatabaseUrl, log);
  const m = pg.migrations;
  log(
    `postgres: ${pg.started ? 'started' : 'reachable'}; database ${m.database}${m.createdDatabase ? ' created' : ''}; ` +
      (m.applied.length
        ? `applied ${m.applied.join(', ')}`
        : `migrations up to date (${m.alreadyApplied.length})`),
  );
  const passwords = await withPool(stack.adminDatabaseUrl, (pool) =>
    setRolePasswords(pool, undefined, stackEnv(stack.paths)),
  );
  const made = passwords.filter((p) => p.created).length;
  log(
    `postgres: ${passwords.length} login role(s) with their passwords${made ? ` (${made} new)` : ''}, secrets in ${secretsDir(stackEnv(stack.paths))}/postgres`,
  );
  const redis = await redisUp(stack.paths, stack.config.redis.url, log);
  log(`redis: ${redis.started ? 'started' : 'reachable'} at ${redactUrl(stack.config.redis.url)}`);
  const registry = await registryUp(
    stack.paths,
    stack.config.schemaRegistry.url,
    stack.registryExternal,
    stack.config.postgres.url,
  );
  switch (registry.action) {
    case 'external':
      log(`schema-registry: using ${redactUrl(registry.url)} (SCHEMA_REGISTRY_URL)`);
      break;
    case 'already-running':
      log(`schema-registry: already running (pid ${registry.pid}) on 127.0.0.1:${registry.port}`);
      break;
    case 'started':
      log(`schema-registry: ready on http://127.0.0.1:${registry.port} (pid ${registry.pid})`);
      break;
  }
  const subjects = await registerSchemaCatalog(
    stack.config.schemaRegistry.url,
    loadSchemaCatalog(join(stack.paths.root, 'schemas')),
  );
  const newSubjects = subjects.filter((s) => s.action === 'registered');
  log(
    `schemas: ${subjects.length} in schemas/, ${newSubjects.length ? `registered ${newSubjects.map((s) => `${s.subject} v${s.version}`).join(', ')}` : 'all registered'}`,
  );
  const topics = await applyDeclaredTopics(
    stack.config,
    loadTopicDeclarations(join(stack.paths.root, 'infra', 'kafka', 'topics.json')),
    projectCatalog(join(stack.paths.root, 'schemas')),
  );
  const changed = topics.filter((t) => t.action !== 'unchanged');
  log(
    `topics: ${topics.length} declared${changed.length ? `; ${changed.map((t) => `${t.topic} ${t.action}${t.action === 'drift' ? ` (${t.detail})` : ''}`).join('; ')}` : ', all up to date'}`,
  );
  log(await checkpointReport(stack));
  if (stack.kafkaExternal)
    log(
      'principals: not managed on a cluster named by KAFKA_BROKERS (see accord principals, docs/security.md)',
    );
  else if (stack.config.kafka.sasl) log(await provisionServices(stack));
}

async function withPool<T>(
  url: string,
  work: (pool: ReturnType<typeof createPgPool>) => Promise<T>,
): Promise<T> {
  const pool = createPgPool(url, { max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** The platform services' and the owners' Kafka principals, with the ACLs that follow ownership. */
async function provisionServices(stack: Stack): Promise<string> {
  const env = stackEnv(stack.paths);
  const catalog = projectCatalog(join(stack.paths.root, 'schemas'));
  const principals: [string, KafkaAccess][] = [
    ...PLATFORM_SERVICES.map((role): [string, KafkaAccess] => [role, serviceAccess(role)]),
    ...catalog.entityTypes().map((e): [string, KafkaAccess] => [ownerRole(e), ownerAccess(catalog, e)]),
  ];
  await provisionPrincipals(stack.config, principals, env);
  return `principals: ${principals.length} service and owner principal(s) with their ACLs (${principals.map(([p]) => p).join(', ')}); secrets in ${secretsDir(env)}`;
}

/**
 * Checkpoints kept in Postgres may point into another log (a broker with new storage, a restored
 * database): say so at once, with the command that resolves it, rather than when a pipeline starts.
 */
async function checkpointReport(stack: Stack): Promise<string> {
  try {
    const rows = await withOps(stack.config, (ops) => ops.lag());
    const groups = new Set(rows.map((r) => r.group));
    const stale = [...new Set(rows.filter(needsRebind).map((r) => r.group))];
    if (stale.length === 0)
      return `checkpoints: ${groups.size} group(s), all pointing into this cluster's logs`;
    return `checkpoints: ${stale.length} of ${groups.size} group(s) do not point into this cluster's logs (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}): their pipelines will refuse those partitions; see accord checkpoints <group>, resolve with accord checkpoints rebind <group> --from earliest|latest|<ISO time>`;
  } catch (error) {
    return `checkpoints: not checked (${describeError(error)})`;
  }
}

/** Stops what `up` started from this state dir, and nothing else. */
export async function stackDown(stack: Stack, log: (line: string) => void): Promise<void> {
  log(await registryDown(stack.paths));
  for (const line of (await kafkaDown(stack.paths)).split('\n')) log(line);
  log(await redisDown(stack.paths));
  log(await postgresDown(stack.paths));
}

export interface ComponentStatus {
  component: 'kafka' | 'postgres' | 'redis' | 'schema-registry';
  address: string;
  healthy: boolean;
  /** 'accord' when `accord up` started it (with its pid), 'external' when it was already there. */
  managedBy: 'accord' | 'external';
  pid?: number;
  detail: string;
}

function row(
  component: ComponentStatus['component'],
  address: string,
  health: HealthReport,
  managed: { pid?: number } | undefined,
): ComponentStatus {
  return {
    component,
    address,
    healthy: health.ok,
    managedBy: managed === undefined ? 'external' : 'accord',
    ...(managed?.pid === undefined ? {} : { pid: managed.pid }),
    detail: health.detail,
  };
}

/** For a local cluster of several brokers: which nodes run. */
function nodesDetail(stack: Stack): string {
  const nodes = readState(stack.paths.stateFile).kafka?.nodes ?? [];
  if (nodes.length < 2) return '';
  const alive = new Set(runningLocalNodes(stack.paths).map((n) => n.id));
  return `; nodes ${nodes.map((n) => `${n.id} ${alive.has(n.id) ? `(pid ${n.pid}, :${n.port})` : `down (:${n.port})`}`).join(', ')}`;
}

export async function stackStatus(stack: Stack): Promise<ComponentStatus[]> {
  const state = readState(stack.paths.stateFile);
  const [kafka, pg, redis, registry] = await Promise.all([
    checkKafka(stack.config),
    checkPostgres(stack.config.postgres.url),
    checkRedis(stack.config.redis.url),
    checkSchemaRegistry(stack.config.schemaRegistry.url),
  ]);
  return [
    row(
      'kafka',
      stack.config.kafka.brokers.join(','),
      kafka.ok
        ? { ...kafka, detail: `${kafka.detail}; ${describeKafkaAuth(stack.config)}${nodesDetail(stack)}` }
        : kafka,
      runningLocalKafka(stack.paths),
    ),
    row('postgres', redactUrl(stack.config.postgres.url), pg, state.postgres ? {} : undefined),
    row('redis', redactUrl(stack.config.redis.url), redis, state.redis),
    row(
      'schema-registry',
      redactUrl(stack.config.schemaRegistry.url),
      registry,
      runningLocalRegistry(stack.paths),
    ),
  ];
}
