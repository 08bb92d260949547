import { AccordError } from '../errors';
import type { SqlPool } from '../infra/sql';
import { table } from '../owners/types';
import { ownerEntityTypes } from './observe';

/**
 * Decision lineage: from an event, a proposal or a decision id, the chain around it, read from the
 * platform's own records. The triggering event (event_archive, or the agents' runs when the archive did
 * not keep it), what each agent read (features with their staleness), evaluated and called (side effects),
 * the proposals it sent and each owner's decision and rule, escalations, and the events that followed
 * (decision events, events caused by the trigger, the proposals or the decisions).
 */
export interface LineageEvent {
  eventId: string;
  eventType: string;
  entityType: string | null;
  entityId: string | null;
  producer: string | null;
  occurredAt: Date | null;
  causationId: string | null;
  correlationId: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  payload: unknown;
}

export interface LineageDecision {
  decisionId: string;
  outcome: string;
  reason: string | null;
  versionBefore: number;
  versionAfter: number | null;
  conflictingVersion: number | null;
  decidedAt: Date;
  escalation: { id: number; status: string; resolvedBy: string | null } | null;
}

export interface LineageProposal {
  proposalId: string;
  entityType: string;
  entityId: string;
  agent: string;
  action: string;
  change: unknown;
  expectedVersion: number | null;
  reason: string | null;
  proposedAt: Date;
  decision: LineageDecision | null;
}

export interface LineageAgentRun {
  agent: string;
  outcome: string;
  latencyMs: number | null;
  traceId: string | null;
  handledAt: Date;
  error: string | null;
  reads: {
    entityType: string;
    entityId: string;
    feature: string;
    stalenessMs: number | null;
    value?: unknown;
    missing?: string;
  }[];
  contracts: { ref: string; result: unknown }[];
  sideEffects: { name: string; calls: number; result: unknown }[];
  refusals: { feature: string; stalenessMs: number | null; objectiveMs: number; reason: string }[];
  emitted: { eventId: string; type: string; topic: string }[];
}

export interface Lineage {
  /** What the id named. */
  found: 'event' | 'proposal' | 'decision';
  id: string;
  trigger: LineageEvent | { eventId: string; archived: false } | null;
  agents: LineageAgentRun[];
  proposals: LineageProposal[];
  followed: LineageEvent[];
  traceIds: string[];
}

const EVENT_COLUMNS = `event_id as "eventId", event_type as "eventType", entity_type as "entityType", entity_id as "entityId",
  producer, occurred_at as "occurredAt", causation_id as "causationId", correlation_id as "correlationId", topic,
  partition, kafka_offset::text as "offset", payload`;

const PROPOSAL_COLUMNS = `p.proposal_id as "proposalId", p.entity_id as "entityId", p.agent, p.action, p.change,
  p.expected_version::int as "expectedVersion", p.reason, p.proposed_at as "proposedAt", p.causation_id as "causationId",
  d.decision_id as "decisionId", d.outcome, d.reason as "decisionReason", d.version_before::int as "versionBefore",
  d.version_after::int as "versionAfter", d.conflicting_version::int as "conflictingVersion", d.decided_at as "decidedAt"`;

interface ProposalRow {
  proposalId: string;
  entityId: string;
  agent: string;
  action: string;
  change: unknown;
  expectedVersion: number | null;
  reason: string | null;
  proposedAt: Date;
  causationId: string | null;
  decisionId: string | null;
  outcome: string | null;
  decisionReason: string | null;
  versionBefore: number | null;
  versionAfter: number | null;
  conflictingVersion: number | null;
  decidedAt: Date | null;
}

export async function lineage(pool: SqlPool, id: string): Promise<Lineage> {
  if (typeof id !== 'string' || id.trim() === '' || id.length > 200)
    throw new AccordError('USAGE', 'give the id of an event, a proposal or a decision');
  const entityTypes = await ownerEntityTypes(pool);
  const proposalsWhere = async (where: string, args: unknown[]): Promise<LineageProposal[]> => {
    const out: LineageProposal[] = [];
    for (const e of entityTypes) {
      const { rows } = await pool.query<ProposalRow>(
        `select ${PROPOSAL_COLUMNS} from ${table(e, 'proposals')} p
           left join ${table(e, 'decisions')} d on d.proposal_id = p.proposal_id where ${where} order by p.proposed_at`,
        args,
      );
      for (const r of rows) out.push(await toProposal(pool, e, r));
    }
    return out;
  };

  // What is the id?
  let found: Lineage['found'] | undefined;
  let triggerId: string | null = null;
  let named = await proposalsWhere('d.decision_id = $1', [id]);
  if (named.length) found = 'decision';
  else {
    named = await proposalsWhere('p.proposal_id = $1', [id]);
    if (named.length) found = 'proposal';
  }
  if (found) {
    triggerId = await causationOf(pool, entityTypes, named[0]?.proposalId ?? id);
  } else {
    const known = await pool.query(
      `select 1 from event_archive where event_id = $1 union all select 1 from agent_runs where event_id = $1 limit 1`,
      [id],
    );
    if (!known.rowCount)
      throw new AccordError(
        'NOT_FOUND',
        `no event, proposal or decision has id "${id}" (searched the event archive, the agents' runs and the proposals and decisions of ${entityTypes.join(', ') || 'no owner'})`,
      );
    found = 'event';
    triggerId = id;
  }

  const trigger = triggerId
    ? ((await archived(pool, [triggerId]))[0] ?? { eventId: triggerId, archived: false as const })
    : null;
  const agents = triggerId ? await agentRuns(pool, triggerId) : [];
  const proposals = triggerId ? await proposalsWhere('p.causation_id = $1', [triggerId]) : [];
  for (const p of named) if (!proposals.some((q) => q.proposalId === p.proposalId)) proposals.push(p);
  const decisionIds = proposals.flatMap((p) => (p.decision ? [p.decision.decisionId] : []));
  const causes = [...(triggerId ? [triggerId] : []), ...proposals.map((p) => p.proposalId), ...decisionIds];
  const emittedIds = agents.flatMap((a) => a.emitted.map((e) => e.eventId));
  const { rows: followed } = await pool.query<LineageEvent>(
    `select ${EVENT_COLUMNS} from event_archive
      where (causation_id = any($1::text[]) or event_id = any($2::text[])) order by occurred_at, event_id`,
    [causes, [...decisionIds, ...emittedIds]],
  );
  return {
    found,
    id,
    trigger,
    agents,
    proposals,
    followed: followed.filter((e) => e.eventId !== triggerId),
    traceIds: [...new Set(agents.flatMap((a) => (a.traceId ? [a.traceId] : [])))],
  };
}

async function causationOf(pool: SqlPool, entityTypes: string[], proposalId: string): Promise<string | null> {
  for (const e of entityTypes) {
    const { rows } = await pool.query<{ c: string | null }>(
      `select causation_id as c from ${table(e, 'proposals')} where proposal_id = $1`,
      [proposalId],
    );
    if (rows[0]) return rows[0].c;
  }
  return null;
}

async function toProposal(pool: SqlPool, entityType: string, r: ProposalRow): Promise<LineageProposal> {
  let escalation: LineageDecision['escalation'] = null;
  if (r.outcome === 'ESCALATED') {
    const { rows } = await pool.query<{ id: number; status: string; resolvedBy: string | null }>(
      'select id::int as id, status, resolved_by as "resolvedBy" from escalations where proposal_id = $1',
      [r.proposalId],
    );
    escalation = rows[0] ?? null;
  }
  return {
    proposalId: r.proposalId,
    entityType,
    entityId: r.entityId,
    agent: r.agent,
    action: r.action,
    change: r.change,
    expectedVersion: r.expectedVersion,
    reason: r.reason,
    proposedAt: r.proposedAt,
    decision:
      r.decisionId && r.outcome && r.decidedAt
        ? {
            decisionId: r.decisionId,
            outcome: r.outcome,
            reason: r.decisionReason,
            versionBefore: r.versionBefore ?? 0,
            versionAfter: r.versionAfter,
            conflictingVersion: r.conflictingVersion,
            decidedAt: r.decidedAt,
            escalation,
          }
        : null,
  };
}

async function archived(pool: SqlPool, ids: string[]): Promise<LineageEvent[]> {
  const { rows } = await pool.query<LineageEvent>(
    `select ${EVENT_COLUMNS} from event_archive where event_id = any($1::text[])`,
    [ids],
  );
  return rows;
}

async function agentRuns(pool: SqlPool, eventId: string): Promise<LineageAgentRun[]> {
  const { rows } = await pool.query<Omit<LineageAgentRun, 'sideEffects' | 'refusals'>>(
    `select agent, outcome, latency_ms as "latencyMs", trace_id as "traceId", handled_at as "handledAt", error,
            reads, contracts, emitted
       from agent_runs where event_id = $1 order by handled_at`,
    [eventId],
  );
  const out: LineageAgentRun[] = [];
  for (const r of rows) {
    const effects = await pool.query<{ name: string; calls: number; result: unknown }>(
      'select name, calls, result from agent_side_effects where agent = $1 and event_id = $2 order by recorded_at',
      [r.agent, eventId],
    );
    const refusals = await pool.query<LineageAgentRun['refusals'][number]>(
      `select feature, staleness_ms::int as "stalenessMs", objective_ms::int as "objectiveMs", reason
         from agent_refusals where agent = $1 and event_id = $2 order by refused_at`,
      [r.agent, eventId],
    );
    out.push({ ...r, sideEffects: effects.rows, refusals: refusals.rows });
  }
  return out;
}
