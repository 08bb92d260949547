import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AgentManifest,
  addAgentRole,
  ConfigError,
  ContractStore,
  createPgPool,
  loadTopicDeclarations,
  manifestToYaml,
  namespacedGroup,
  pollUntil,
  RegistryHttpClient,
  type ResolvedConfig,
  registerAgentKey,
  type SomeCatalog,
  serviceNodeFlags,
} from '@accord/sdk';
import {
  agentAccess,
  applyDeclaredTopics,
  type KafkaAccess,
  type Ops,
  parseStartPosition,
  provisionPrincipal,
  setRolePasswords,
} from '@accord/sdk/ops';
import { loadViews } from './run';
import { agentDir, isAlive, readAgentState, replicaReady } from './state';

/** One change deploy makes (or, with --plan, would make). */
export interface Action {
  agent: string;
  what: string;
  run: () => Promise<void>;
}

export interface AgentPlan {
  manifest: AgentManifest;
  group: string;
  actions: Action[];
  /** unchanged, start or rolling update. */
  replicas: 'unchanged' | 'start' | 'roll';
  /** Its Kafka principal and ACLs, granted (idempotently) on every deploy when Kafka authenticates. */
  kafka?: { config: ResolvedConfig; principal: string; access: KafkaAccess };
  /** Where its signing key's public half is registered (as the operator), on every deploy. */
  databaseUrl: string;
}

interface Context {
  ops: Ops;
  config: ResolvedConfig;
  catalog: SomeCatalog;
  root: string;
}

/**
 * Everything is checked before anything changes: a manifest that names a missing topic (not declared
 * either), an unknown event type, an incompatible schema, an unknown feature or contract is refused with
 * its name, and nothing of any manifest is deployed.
 */
export async function planDeploy(manifests: AgentManifest[], ctx: Context): Promise<AgentPlan[]> {
  const names = manifests.map((m) => m.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new ConfigError(`agent ${twice} is in two manifests`);
  const topics = new Set(await ctx.ops.listTopics());
  const declared = loadTopicDeclarations(join(ctx.root, 'infra', 'kafka', 'topics.json'));
  const registry = new RegistryHttpClient(ctx.config.schemaRegistry.url);
  const pool = createPgPool(ctx.config.postgres.url, { max: 2 });
  const contracts = new ContractStore(pool);
  try {
    const plans: AgentPlan[] = [];
    for (const m of manifests) {
      const where = `${m.file} (${m.name})`;
      const actions: Action[] = [];
      const act = (what: string, run: () => Promise<void>) => actions.push({ agent: m.name, what, run });
      if (!existsSync(m.entryPath))
        throw new ConfigError(`${where}: entry ${m.entry} does not exist (${m.entryPath})`);
      // Topics: consumed ones and the proposals topics must exist, or be declared (then they are created).
      const needed = [
        ...m.consumes.map((c) => c.topic),
        ...m.proposes.map((e) => m.proposalTopics[e] ?? ctx.catalog.proposalsTopic(e)),
      ];
      for (const topic of needed) {
        if (topics.has(topic)) continue;
        const declaration = declared.find((d) => d.name === topic);
        if (!declaration)
          throw new ConfigError(
            `${where}: topic ${topic} does not exist and is not declared in infra/kafka/topics.json`,
          );
        topics.add(topic);
        act(`create topic ${topic} (declared in topics.json)`, async () => {
          await applyDeclaredTopics(ctx.config, [declaration], ctx.catalog);
        });
      }
      // Event types it emits: known, and their schema registered or compatible with the registered one.
      for (const type of m.emits) {
        const name = ctx.catalog.resolveEventName(type);
        const schema = JSON.stringify(ctx.catalog.schema(name));
        if (await registry.lookup(name, schema)) continue;
        const versions = await registry.versions(name).catch(() => [] as number[]);
        if (versions.length) {
          const result = await registry.testCompatibility(name, schema);
          if (!result.is_compatible)
            throw new ConfigError(
              `${where}: the schema of ${name} is incompatible with the registry's: ${result.messages.join('; ')}`,
            );
        }
        act(`register the schema of ${name}`, async () => {
          await registry.register(name, schema);
        });
      }
      // Features and contracts it reads must exist.
      if (m.reads.features.length) {
        if (!m.viewsPath)
          throw new ConfigError(`${where}: reads features but names no views module (views:)`);
        const views = new Set(loadViews(m.viewsPath, m.views ?? m.viewsPath).map((v) => v.name));
        const unknown = m.reads.features.find((f) => !views.has(f.split('@')[0] ?? f));
        if (unknown)
          throw new ConfigError(`${where}: reads feature ${unknown}, which ${m.views} does not define`);
      }
      for (const ref of m.reads.contracts)
        await contracts.get(ref).catch(() => {
          throw new ConfigError(
            `${where}: reads contract ${ref}, which does not exist (see accord contracts)`,
          );
        });
      // Its consumer group starts where the manifest says, once.
      const group = namespacedGroup(`agent-${m.name}`);
      const positions = await ctx.ops.lag({ group });
      for (const c of m.consumes) {
        if (positions.some((p) => p.topic === c.topic)) continue;
        act(`start group ${group} on ${c.topic} from ${c.from}`, async () => {
          await ctx.ops.addConsumer(group, c.topic, parseStartPosition(c.from));
        });
      }
      // Its role: read-only, its own checkpoints only.
      const role = `accord_agent_${m.name}`;
      const { rows } = await pool.query<{ n: string }>(
        `select count(*) as n from checkpoint_grants where role_name = $1 and consumer_group = $2`,
        [role, group],
      );
      if (rows[0]?.n !== '1')
        act(`create role ${role} (reads everything, writes only the checkpoints of ${group})`, async () => {
          const admin = createPgPool(ctx.config.postgres.url, { max: 1 });
          try {
            await addAgentRole(admin, m.name, [group]);
          } finally {
            await admin.end();
          }
        });
      const state = readAgentState(m.name);
      const running = state && isAlive(state.supervisorPid) && state.status !== 'stopped';
      const replicas = !running ? 'start' : state.digest === m.digest ? 'unchanged' : 'roll';
      if (replicas === 'start')
        act(
          `start ${m.replicas} replica(s) of ${m.name}${m.version ? ` v${m.version}` : ''}`,
          async () => {},
        );
      if (replicas === 'roll')
        act(
          `rolling update of ${m.name} v${state?.version ?? '?'} → v${m.version ?? '?'} (${m.replicas} replica(s), one at a time)`,
          async () => {},
        );
      // Its Kafka principal: reads what it consumes; writes its proposals and the events it emits.
      const kafka = ctx.config.kafka.sasl
        ? {
            config: ctx.config,
            principal: role,
            access: agentAccess({
              reads: m.consumes.map((c) => c.topic),
              proposals: m.proposes.map((e) => m.proposalTopics[e] ?? ctx.catalog.proposalsTopic(e)),
              // The topics of the events it declares (emit() refuses any other type).
              emits: m.emits.flatMap((t) => {
                const entity = ctx.catalog.entityTypeOf(ctx.catalog.resolveEventName(t));
                return entity ? [ctx.catalog.eventsTopic(entity)] : [];
              }),
              groups: [group],
            }),
          }
        : undefined;
      plans.push({
        manifest: m,
        group,
        actions,
        replicas,
        databaseUrl: ctx.config.postgres.url,
        ...(kafka ? { kafka } : {}),
      });
    }
    return plans;
  } finally {
    await pool.end();
  }
}

/**
 * Carries out the plans (the checks already passed for all of them), then starts or rolls the replicas:
 * every agent is provisioned and started in turn, then all are awaited together (deploying seven agents
 * takes as long as the slowest, not the sum: about 8 s each on this machine kind).
 */
export async function executeDeploy(plans: AgentPlan[], say: (line: string) => void): Promise<void> {
  serviceNodeFlags(); // a bad ACCORD_SERVICE_NODE_OPTIONS is refused here, not by each supervisor later
  const started: AgentPlan[] = [];
  for (const plan of plans) {
    for (const action of plan.actions) {
      say(`${plan.manifest.name}: ${action.what}`);
      await action.run();
    }
    if (plan.kafka) await provisionPrincipal(plan.kafka.config, plan.kafka.principal, plan.kafka.access);
    // Its identity: the key its proposals are signed with, the public half where owners check it.
    const operator = createPgPool(plan.databaseUrl, { max: 1 });
    try {
      const key = await registerAgentKey(operator, plan.manifest.name);
      // Its Postgres password (the local secret, made once), set on every deploy: a new state dir heals.
      await setRolePasswords(operator, [`accord_agent_${plan.manifest.name}`]);
      if (key.created) say(`${plan.manifest.name}: signing key made; owners check its proposals against it`);
    } finally {
      await operator.end();
    }
    if (plan.replicas === 'unchanged') continue;
    const dir = agentDir(plan.manifest.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'manifest.yaml'), manifestToYaml(plan.manifest), { mode: 0o600 });
    const state = readAgentState(plan.manifest.name);
    if (plan.replicas === 'roll' && state) process.kill(state.supervisorPid, 'SIGHUP');
    else {
      const log = openSync(join(dir, 'supervisor.log'), 'a');
      const child = spawn(
        process.execPath,
        [
          '--disable-warning=TimeoutNegativeWarning',
          process.argv[1] ?? '',
          'agent',
          'supervise',
          plan.manifest.name,
        ],
        { detached: true, stdio: ['ignore', log, log], env: process.env },
      );
      child.unref();
    }
    started.push(plan);
  }
  const failures = (
    await Promise.all(
      started.map(async (plan) => {
        const failure = await untilReady(plan);
        if (!failure)
          say(
            `${plan.manifest.name}: ${plan.manifest.replicas} replica(s) ready${plan.manifest.version ? ` (v${plan.manifest.version})` : ''}`,
          );
        return failure;
      }),
    )
  ).filter((f): f is string => f !== undefined);
  if (failures.length) throw new ConfigError(failures.join('; '));
}

/** Waits until every replica of the plan's digest runs and answers ready; else says why (after 180 s). */
async function untilReady(plan: AgentPlan): Promise<string | undefined> {
  const ready = await pollUntil(
    async () => {
      const s = readAgentState(plan.manifest.name);
      if (!s || s.digest !== plan.manifest.digest || s.status !== 'running') return undefined;
      const live = s.replicas.filter((r) => r.digest === plan.manifest.digest && isAlive(r.pid));
      if (live.length !== plan.manifest.replicas) return undefined;
      const answers = await Promise.all(live.map((r) => replicaReady(r.healthPort)));
      return answers.every(Boolean) ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 300 },
  );
  if (ready) return undefined;
  return `${plan.manifest.name}: not ready after 180 s (see accord logs ${plan.manifest.name} and ${join(agentDir(plan.manifest.name), 'supervisor.log')})`;
}
