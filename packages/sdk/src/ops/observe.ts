import type { SqlPool } from '../infra/sql';
import { table } from '../owners/types';

/**
 * The coordination metrics over time, read from the platform's own records (no separate store): the
 * owners' decisions (outcomes, conflicts, compensations, escalations, proposal → decision latency) and
 * the agents' runs (decision latency, context staleness at decision time), per minute.
 */
export interface DecisionMinute {
  minute: Date;
  entityType: string;
  accepted: number;
  rejected: number;
  escalated: number;
  conflicts: number;
  compensations: number;
  /** p95 of proposal → decision (ms). */
  p95Ms: number | null;
}

export interface AgentMinute {
  minute: Date;
  agent: string;
  events: number;
  refused: number;
  failed: number;
  /** p95 of triggering event → end of handling (ms): the decision latency. */
  p95LatencyMs: number | null;
  /** p95 of the stalest feature read per event (ms): the context staleness at decision time. */
  p95StalenessMs: number | null;
}

export interface ConflictRow {
  entityType: string;
  entityId: string;
  decisionId: string;
  proposalId: string;
  agent: string;
  action: string;
  outcome: string;
  reason: string | null;
  expectedVersion: number | null;
  conflictingVersion: number;
  decidedAt: Date;
}

/** The entity types that have owner tables in this schema. */
export async function ownerEntityTypes(pool: SqlPool): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    `select regexp_replace(table_name, '_decisions$', '') as t from information_schema.columns
      where table_schema = current_schema() and column_name = 'decision_id' and table_name like '%\\_decisions'
      order by 1`,
  );
  return rows.map((r) => r.t).filter((t) => /^[a-z][a-z0-9_]{0,40}$/.test(t));
}

export async function decisionSeries(pool: SqlPool, minutes: number): Promise<DecisionMinute[]> {
  const out: DecisionMinute[] = [];
  for (const e of await ownerEntityTypes(pool)) {
    const { rows } = await pool.query<Omit<DecisionMinute, 'entityType'>>(
      `select date_trunc('minute', d.decided_at) as minute,
              count(*) filter (where d.outcome = 'ACCEPTED')::int as accepted,
              count(*) filter (where d.outcome = 'REJECTED')::int as rejected,
              count(*) filter (where d.outcome = 'ESCALATED')::int as escalated,
              count(*) filter (where d.conflicting_version is not null)::int as conflicts,
              count(*) filter (where d.outcome = 'ACCEPTED' and d.reason like 'compensates decision %')::int as compensations,
              percentile_cont(0.95) within group (order by extract(epoch from d.decided_at - p.proposed_at) * 1000) as "p95Ms"
         from ${table(e, 'decisions')} d join ${table(e, 'proposals')} p using (proposal_id)
        where d.decided_at > now() - make_interval(mins => $1)
        group by 1 order by 1`,
      [minutes],
    );
    for (const r of rows) out.push({ ...r, entityType: e });
  }
  return out.sort((a, b) => a.minute.getTime() - b.minute.getTime());
}

export async function agentSeries(pool: SqlPool, minutes: number): Promise<AgentMinute[]> {
  const { rows } = await pool.query<AgentMinute>(
    `select date_trunc('minute', handled_at) as minute, agent,
            count(*)::int as events,
            count(*) filter (where outcome = 'refused')::int as refused,
            count(*) filter (where outcome = 'failed')::int as failed,
            percentile_cont(0.95) within group (order by latency_ms) filter (where outcome <> 'failed') as "p95LatencyMs",
            percentile_cont(0.95) within group (order by (
              select max((r->>'stalenessMs')::double precision) from jsonb_array_elements(reads) r
            )) as "p95StalenessMs"
       from agent_runs
      where handled_at > now() - make_interval(mins => $1)
      group by 1, 2 order by 1, 2`,
    [minutes],
  );
  return rows;
}

export async function recentConflicts(pool: SqlPool, limit: number): Promise<ConflictRow[]> {
  const out: ConflictRow[] = [];
  for (const e of await ownerEntityTypes(pool)) {
    const { rows } = await pool.query<Omit<ConflictRow, 'entityType'>>(
      `select d.entity_id as "entityId", d.decision_id as "decisionId", d.proposal_id as "proposalId", d.agent,
              d.action, d.outcome, d.reason, p.expected_version::int as "expectedVersion",
              d.conflicting_version::int as "conflictingVersion", d.decided_at as "decidedAt"
         from ${table(e, 'decisions')} d join ${table(e, 'proposals')} p using (proposal_id)
        where d.conflicting_version is not null order by d.decided_at desc limit $1`,
      [limit],
    );
    for (const r of rows) out.push({ ...r, entityType: e });
  }
  return out.sort((a, b) => b.decidedAt.getTime() - a.decidedAt.getTime()).slice(0, limit);
}

export interface IncidentMinute {
  minute: Date;
  kind: string;
  incidents: number;
  /** Offsets that will never be processed (deleted before they were). */
  lost: number;
}

/** Checkpoint gaps and identity changes per minute, from pipeline_incidents. */
export async function incidentSeries(pool: SqlPool, minutes: number): Promise<IncidentMinute[]> {
  const { rows } = await pool.query<IncidentMinute>(
    `select date_trunc('minute', detected_at) as minute, kind, count(*)::int as incidents,
            coalesce(sum(lost), 0)::int as lost
       from pipeline_incidents where detected_at > now() - make_interval(mins => $1)
      group by 1, 2 order by 1, 2`,
    [minutes],
  );
  return rows;
}
