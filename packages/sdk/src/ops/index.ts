import type { Admin, Kafka } from 'kafkajs';
import { type AgentControl, agentControl, setAgentPaused } from '../agents/controls';
import type { ResolvedConfig } from '../config';
import { createKafka, createPgPool } from '../infra/clients';
import type { SqlPool } from '../infra/sql';
import type { OwnerDecision } from '../owners/propose';
import { table } from '../owners/types';
import { CheckpointStore, type IncidentRow } from '../pipelines/checkpoints';
import { groupIsRunning, type StartPosition } from '../pipelines/positions';
import { AvroSerde } from '../schemas/serde';
import { type AddedConsumer, addConsumer } from './consumers';
import {
  type DeadLetterView,
  decodeDeadLetters,
  readDeadLetters,
  recordDeadLetterAction,
  resendDeadLetters,
} from './dead-letters';
import { type EscalationRow, listEscalations, resolveEscalation } from './escalations';
import { type PartitionLag, pipelineLag } from './lag';
import { type Lineage, lineage } from './lineage';
import {
  type AgentMinute,
  agentSeries,
  type ConflictRow,
  type DecisionMinute,
  decisionSeries,
  type IncidentMinute,
  incidentSeries,
  recentConflicts,
} from './observe';
import { executeRebind, planRebind, type RebindPlan } from './rebind';
import { executeReplay, planReplay, type ReplayPlan, type ReplayTarget } from './replay';
import { awaitReplay, type ReplayProgress, type ReplayWaitOutcome } from './replay-wait';
import { type TailRecord, tailTopic } from './tail';

export type { AgentControl } from '../agents/controls';
export {
  type AclRow,
  aclEntries,
  type KafkaAccess,
  listAcls,
  upsertScramUsers,
} from '../infra/kafka-security';
export type { IncidentRow } from '../pipelines/checkpoints';
export { parseStartPosition, type StartPosition } from '../pipelines/positions';
export type { AddedConsumer } from './consumers';
export type { DeadLetterView } from './dead-letters';
export type { EscalationRow } from './escalations';
export { checkKafka, checkPostgres, checkRedis, checkSchemaRegistry, type HealthReport } from './health';
export { needsRebind, type PartitionLag } from './lag';
export type {
  Lineage,
  LineageAgentRun,
  LineageDecision,
  LineageEvent,
  LineageProposal,
} from './lineage';
export { ensureDatabase, type MigrationResult, migrate } from './migrations';
export type { AgentMinute, ConflictRow, DecisionMinute, IncidentMinute } from './observe';
export { scramVerifier, setRolePasswords } from './passwords';
export {
  agentAccess,
  ownerAccess,
  ownerRole,
  PLATFORM_SERVICES,
  type PlatformService,
  provisionPrincipal,
  provisionPrincipals,
  removePrincipal,
  serviceAccess,
} from './principals';
export type { RebindPartitionPlan, RebindPlan } from './rebind';
export {
  describeTarget,
  type ReplayPartitionPlan,
  type ReplayPlan,
  type ReplayTarget,
} from './replay';
export type { ReplayProgress, ReplayWaitOutcome } from './replay-wait';
export type { TailRecord } from './tail';
export { applyDeclaredTopics, compareDeclaredTopics } from './topics';

/**
 * @accord/sdk/ops: the operator face, shared by the `accord` CLI and the coming console. Every verb an
 * operator has on pipelines (add a consumer, lag and checkpoints with their incidents, replay, rebind,
 * dead letters) behind one object that holds its clients: callers never see a driver type.
 *
 *   const ops = await Ops.connect(config);
 *   try { console.log(await ops.lag({ group: 'accord-archive' })); } finally { await ops.close(); }
 */
export class Ops {
  private constructor(
    private readonly config: ResolvedConfig,
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly pool: SqlPool,
  ) {}

  static async connect(config: ResolvedConfig): Promise<Ops> {
    const kafka = createKafka(config);
    const admin = kafka.admin();
    const pool = createPgPool(config.postgres.url, { max: 2 });
    try {
      await admin.connect();
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return new Ops(config, kafka, admin, pool);
  }

  private get endpoint(): ResolvedConfig['kafka'] {
    return this.config.kafka;
  }

  addConsumer(group: string, topic: string, from: StartPosition): Promise<AddedConsumer> {
    return addConsumer(this.admin, this.pool, group, topic, from);
  }

  lag(options: { group?: string; stuckAfterSeconds?: number } = {}): Promise<PartitionLag[]> {
    return pipelineLag(this.admin, this.pool, { ...options, kafka: this.endpoint });
  }

  incidents(group?: string, limit = 20): Promise<IncidentRow[]> {
    return new CheckpointStore(this.pool).incidents(group, limit);
  }

  isRunning(group: string): Promise<boolean> {
    return groupIsRunning(this.admin, group);
  }

  planReplay(group: string, target: ReplayTarget, untilTime?: Date): Promise<ReplayPlan> {
    return planReplay(this.admin, this.pool, group, target, untilTime, this.endpoint);
  }

  executeReplay(plan: ReplayPlan, requestedBy: string): Promise<number> {
    return executeReplay(this.admin, this.pool, plan, requestedBy);
  }

  /** Topics the cluster has (internal ones left out). */
  async listTopics(): Promise<string[]> {
    return (await this.admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
  }

  /** Records a topic holds now (the sum over its partitions of log end − log start); 0 when it does not exist. */
  async topicRecords(topic: string): Promise<number> {
    if (!(await this.admin.listTopics()).includes(topic)) return 0;
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  }

  /** An agent's most recent decision over the entity types it proposes to (undefined if none yet). */
  async lastDecision(
    agent: string,
    entityTypes: string[],
  ): Promise<{ entityType: string; entityId: string; outcome: string; decidedAt: Date } | undefined> {
    let last: { entityType: string; entityId: string; outcome: string; decidedAt: Date } | undefined;
    for (const entityType of entityTypes) {
      const { rows } = await this.pool.query<{ entityId: string; outcome: string; decidedAt: Date }>(
        `select entity_id as "entityId", outcome, decided_at as "decidedAt" from ${table(entityType, 'decisions')}
          where agent = $1 order by decided_at desc limit 1`,
        [agent],
      );
      const row = rows[0];
      if (row && (!last || row.decidedAt > last.decidedAt)) last = { entityType, ...row };
    }
    return last;
  }

  /** The chain around an event, proposal or decision id (NOT_FOUND when no record has it). */
  lineage(id: string): Promise<Lineage> {
    return lineage(this.pool, id);
  }

  /** Owners' decisions per minute over the last `minutes` (outcomes, conflicts, p95 latency). */
  decisionSeries(minutes = 60): Promise<DecisionMinute[]> {
    return decisionSeries(this.pool, minutes);
  }

  /** Agents' runs per minute over the last `minutes` (p95 decision latency and context staleness). */
  agentSeries(minutes = 60): Promise<AgentMinute[]> {
    return agentSeries(this.pool, minutes);
  }

  /** Checkpoint incidents (gaps, identity changes) per minute over the last `minutes`. */
  incidentSeries(minutes = 60): Promise<IncidentMinute[]> {
    return incidentSeries(this.pool, minutes);
  }

  /** The latest decisions on proposals that expected a version the entity had left. */
  recentConflicts(limit = 20): Promise<ConflictRow[]> {
    return recentConflicts(this.pool, limit);
  }

  /** Consumer groups that have a dead-letter topic (<group>.dlq). */
  async deadLetterGroups(): Promise<string[]> {
    return (await this.listTopics()).filter((t) => t.endsWith('.dlq')).map((t) => t.slice(0, -'.dlq'.length));
  }

  /** The kill switch: pauses (or resumes) an agent fleet-wide, recorded with who and why. */
  setAgentPaused(agent: string, paused: boolean, by: string, reason?: string): Promise<AgentControl> {
    return setAgentPaused(this.pool, agent, paused, by, reason);
  }

  agentControl(agent: string): Promise<AgentControl | undefined> {
    return agentControl(this.pool, agent);
  }

  escalations(
    options: { status?: 'open' | 'accepted' | 'rejected' | 'all'; entityType?: string } = {},
  ): Promise<EscalationRow[]> {
    return listEscalations(this.pool, options);
  }

  resolveEscalation(
    id: number,
    resolution: { accept: boolean; reason: string; by: string; timeoutMs?: number },
  ): Promise<{ escalation: EscalationRow; decision: OwnerDecision }> {
    return resolveEscalation(this.config, this.pool, id, resolution);
  }

  /** Waits until the running pipeline is past every partition's replay (or stops, or the time is up). */
  awaitReplay(
    plan: ReplayPlan,
    options: { timeoutMs: number; intervalMs?: number; onProgress?: (progress: ReplayProgress) => void },
  ): Promise<ReplayWaitOutcome> {
    return awaitReplay(
      { lag: () => this.lag({ group: plan.group }), isRunning: () => this.isRunning(plan.group) },
      plan,
      options,
    );
  }

  planRebind(group: string, from: StartPosition, options: { topic?: string } = {}): Promise<RebindPlan> {
    return planRebind(this.admin, this.pool, group, from, { ...options, kafka: this.endpoint });
  }

  executeRebind(plan: RebindPlan, requestedBy: string): Promise<number> {
    return executeRebind(this.admin, this.pool, plan, requestedBy);
  }

  /** The group's dead letters, decoded, with what operators did about each. */
  async deadLetters(group: string): Promise<DeadLetterView[]> {
    const entries = await readDeadLetters(this.admin, this.pool, this.kafka, group);
    return decodeDeadLetters(entries, new AvroSerde({ registryUrl: this.config.schemaRegistry.url }));
  }

  /** Sends dead letters back to their topics for this group only, or discards them; recorded either way. */
  async actOnDeadLetters(
    group: string,
    letters: DeadLetterView[],
    action: 'replayed' | 'discarded',
    by: string,
  ): Promise<void> {
    if (action === 'replayed') await resendDeadLetters(this.kafka, group, letters);
    await recordDeadLetterAction(
      this.pool,
      group,
      letters.map((l) => l.dlqOffset),
      action,
      by,
    );
  }

  /** Prints a topic from a position, decoded, until `max` records or `until` resolves. */
  tail(
    topic: string,
    options: { from: StartPosition; entity?: string; max?: number; until: Promise<void> },
    onRecord: (record: TailRecord) => void,
  ): Promise<void> {
    const serde = new AvroSerde({ registryUrl: this.config.schemaRegistry.url });
    return tailTopic(this.kafka, this.admin, serde, topic, options, onRecord);
  }

  async close(): Promise<void> {
    await this.admin.disconnect().catch(() => {});
    await this.pool.end().catch(() => {});
  }
}

/** Runs `work` with connected ops and closes them after. */
export async function withOps<T>(config: ResolvedConfig, work: (ops: Ops) => Promise<T>): Promise<T> {
  const ops = await Ops.connect(config);
  try {
    return await work(ops);
  } finally {
    await ops.close();
  }
}
