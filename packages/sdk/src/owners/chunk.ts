import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../infra/sql';
import { ATTR, type Context, currentTraceparent, inSpan } from '../telemetry/tracing';
import { judge, type Made, reasonOf, recordDuplicateAttempt } from './decide';
import { judgeResolution, queueEscalation, RESOLVE_ACTION } from './escalations';
import { type EntityState, type OwnerOptions, type Proposal, table, type Verdict } from './types';

/** A proposal of the chunk, with the trace context its event was handled in (its decision joins that trace). */
export interface ChunkItem {
  proposal: Proposal;
  topic: string;
  trace: Context;
}

type Fresh = 'new' | 'redelivered' | 'duplicate-key';

/**
 * Decides a chunk's proposals in the owner's transaction, in order: one round trip records them all (a
 * redelivery stops there), one locks their entities, each is judged against its entity as the proposals
 * before it in the chunk left it, and one writes every decision (state, audit, outbox). Anything that reads
 * or writes the database in between (a decide that queries, a stale proposal's merge check, an escalation)
 * first writes the decisions before it, so every read sees them, as if each proposal were decided alone.
 * Returns each proposal's decision (undefined for a redelivery).
 */
export async function decideChunk(
  tx: SqlClient,
  options: OwnerOptions,
  items: ChunkItem[],
): Promise<(Made | undefined)[]> {
  // Statements stay well under Postgres' 65,535 parameters (16 a decision): a long chunk goes in slices.
  const made: (Made | undefined)[] = [];
  for (let i = 0; i < items.length; i += MAX_ROWS)
    made.push(...(await decideSlice(tx, options, items.slice(i, i + MAX_ROWS))));
  return made;
}

const MAX_ROWS = 1000;

async function decideSlice(
  tx: SqlClient,
  options: OwnerOptions,
  items: ChunkItem[],
): Promise<(Made | undefined)[]> {
  const e = options.entityType;
  const fresh = await recordProposals(
    tx,
    e,
    items.map((i) => i.proposal),
  );
  const entities = await lockEntities(
    tx,
    e,
    items.filter((_, i) => fresh[i] !== 'redelivered').map((i) => i.proposal.entityId),
  );
  const writes = new DecisionWrites(tx, e);
  const made: (Made | undefined)[] = [];
  for (const [i, { proposal, topic, trace }] of items.entries()) {
    if (fresh[i] === 'redelivered') {
      made.push(undefined);
      continue;
    }
    const current = entities.get(proposal.entityId) ?? { version: 0, state: {} };
    const decided = await inSpan(
      `${e} decide`,
      {
        parent: trace,
        attributes: {
          [ATTR.entityType]: e,
          [ATTR.entityId]: proposal.entityId,
          [ATTR.proposalId]: proposal.proposalId,
          [ATTR.agent]: proposal.agent,
          [ATTR.action]: proposal.action,
        },
      },
      async (span) => {
        const one = await decideOne(writes, options, proposal, topic, current, fresh[i] === 'duplicate-key');
        span.setAttributes({
          [ATTR.decisionId]: one.decisionId,
          [ATTR.outcome]: one.verdict.outcome,
          ...('reason' in one.verdict && one.verdict.reason ? { [ATTR.rule]: one.verdict.reason } : {}),
          [ATTR.versionBefore]: one.versionBefore,
          ...(one.versionAfter !== null ? { [ATTR.versionAfter]: one.versionAfter } : {}),
        });
        return one;
      },
    );
    if (decided.verdict.outcome === 'ACCEPTED' && decided.versionAfter !== null)
      entities.set(proposal.entityId, { version: decided.versionAfter, state: decided.verdict.state });
    made.push(decided);
  }
  await writes.flush();
  return made;
}

/** One proposal's judgement and its writes (queued): resolution of an escalation, else the owner's rules. */
async function decideOne(
  writes: DecisionWrites,
  options: OwnerOptions,
  proposal: Proposal,
  topic: string,
  current: EntityState,
  duplicateKey: boolean,
): Promise<Made> {
  const tx = writes.tx;
  const resolution =
    proposal.action === RESOLVE_ACTION && !duplicateKey
      ? await judgeResolution(tx, proposal, current)
      : undefined;
  const { verdict, conflicting } = resolution
    ? { verdict: resolution.verdict, conflicting: null }
    : await judge(tx, options, proposal, current, duplicateKey);
  const versionAfter = verdict.outcome === 'ACCEPTED' ? current.version + 1 : null;
  if (duplicateKey) await recordDuplicateAttempt(tx, options.entityType, proposal);
  const decisionId = randomUUID();
  await resolution?.close?.(decisionId);
  if (verdict.outcome === 'ESCALATED' && !resolution)
    await queueEscalation(tx, proposal, decisionId, reasonOf(verdict), topic);
  writes.add({
    decisionId,
    proposal,
    verdict,
    versionBefore: current.version,
    versionAfter,
    conflicting,
    traceparent: currentTraceparent(),
  });
  return {
    decisionId,
    verdict,
    versionBefore: current.version,
    versionAfter,
    conflicting: conflicting !== null,
  };
}

/**
 * Appends the proposals to the audit in one statement. A proposal id already there is a redelivery (it
 * changes nothing); a re-sent idempotency key is a duplicate. Within the chunk the first of two wins, as
 * one at a time.
 */
async function recordProposals(tx: SqlClient, e: string, proposals: Proposal[]): Promise<Fresh[]> {
  const values: unknown[] = [];
  const rows = proposals.map((p) => {
    const at = values.length;
    values.push(
      p.proposalId,
      p.idempotencyKey,
      p.entityId,
      p.agent,
      p.action,
      JSON.stringify(p.change),
      p.expectedVersion,
      p.reason,
      p.context === null ? null : JSON.stringify(p.context),
      p.proposedAt,
      p.causationId ?? null,
      p.correlationId ?? null,
    );
    const $ = (k: number) => `$${at + k}`;
    return `(${$(1)}, ${$(2)}, ${$(3)}, ${$(4)}, ${$(5)}, ${$(6)}::jsonb, ${$(7)}::bigint, ${$(8)}, ${$(9)}::jsonb, to_timestamp(${$(10)}::double precision / 1000), ${$(11)}, ${$(12)})`;
  });
  const inserted = await tx.query<{ proposal_id: string }>(
    `insert into ${table(e, 'proposals')} (proposal_id, idempotency_key, entity_id, agent, action, change, expected_version, reason, context, proposed_at, causation_id, correlation_id)
     values ${rows.join(', ')} on conflict do nothing returning proposal_id`,
    values,
  );
  const unclaimed = new Set(inserted.rows.map((r) => r.proposal_id));
  const fresh: (Fresh | undefined)[] = proposals.map((p) =>
    unclaimed.delete(p.proposalId) ? 'new' : undefined,
  );
  const left = proposals.filter((_, i) => fresh[i] === undefined).map((p) => p.proposalId);
  if (left.length === 0) return fresh as Fresh[];
  const seen = await tx.query<{ proposal_id: string }>(
    `select proposal_id from ${table(e, 'proposals')} where proposal_id = any($1::text[])`,
    [left],
  );
  const known = new Set(seen.rows.map((r) => r.proposal_id));
  return fresh.map((f, i) => f ?? (known.has(proposals[i]!.proposalId) ? 'redelivered' : 'duplicate-key'));
}

/**
 * The entities' versions and states, locked for the rest of the transaction (created empty if new), in one
 * round trip: new ones come back from the insert, existing ones from the locking select (in id order, so
 * two transactions never wait on each other crosswise). A row another transaction inserted after the
 * statement's snapshot shows in neither: it is read again alone, with a fresh snapshot.
 */
async function lockEntities(tx: SqlClient, e: string, ids: string[]): Promise<Map<string, EntityState>> {
  const unique = [...new Set(ids)].sort();
  const found = new Map<string, EntityState>();
  if (unique.length === 0) return found;
  const { rows } = await tx.query<{ entity_id: string; version: string; state: Record<string, unknown> }>(
    `with created as (
       insert into ${table(e, 'entities')} (entity_id) select unnest($1::text[])
       on conflict do nothing returning entity_id, version, state
     ), locked as (
       select entity_id, version, state from ${table(e, 'entities')}
        where entity_id = any($1::text[]) order by entity_id for update
     )
     select entity_id, version, state from created union all select entity_id, version, state from locked`,
    [unique],
  );
  for (const r of rows) found.set(r.entity_id, { version: Number(r.version), state: r.state });
  for (const id of unique.filter((id) => !found.has(id))) {
    const again = await tx.query<{ version: string; state: Record<string, unknown> }>(
      `select version, state from ${table(e, 'entities')} where entity_id = $1 for update`,
      [id],
    );
    found.set(id, { version: Number(again.rows[0]?.version ?? 0), state: again.rows[0]?.state ?? {} });
  }
  return found;
}

interface Queued {
  decisionId: string;
  proposal: Proposal;
  verdict: Verdict;
  versionBefore: number;
  versionAfter: number | null;
  conflicting: number | null;
  traceparent: string | null;
}

/**
 * The chunk's decisions, written in one statement when flushed: each accepted entity's last state and
 * version, the audited decisions, and their events queued in the outbox in decision order with each
 * decision's trace context (the relay publishes it in that trace). `tx` is the transaction as the judging
 * code sees it: any statement through it first writes what is queued, so it reads the decisions before it.
 */
class DecisionWrites {
  private queued: Queued[] = [];
  readonly tx: SqlClient;

  constructor(
    private readonly raw: SqlClient,
    private readonly e: string,
  ) {
    this.tx = {
      query: async (text, values) => {
        await this.flush();
        return raw.query(text, values);
      },
      release: () => {
        throw new Error("an owner's transaction is released by its pipeline");
      },
    };
  }

  add(decision: Queued): void {
    this.queued.push(decision);
  }

  async flush(): Promise<void> {
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    const e = this.e;
    const values: unknown[] = [];
    const $ = (value: unknown) => `$${values.push(value)}`;
    const states = new Map<string, Queued>();
    for (const d of queued) if (d.verdict.outcome === 'ACCEPTED') states.set(d.proposal.entityId, d);
    const audited = queued.map((d) => {
      const { proposal, verdict } = d;
      return {
        decision: `(${[
          $(d.decisionId),
          $(proposal.proposalId),
          $(proposal.entityId),
          $(proposal.agent),
          $(proposal.action),
          $(verdict.outcome),
          $(reasonOf(verdict)),
          `${$(d.versionBefore)}::bigint`,
          `${$(d.versionAfter)}::bigint`,
          `${$(d.conflicting)}::bigint`,
          `${$(verdict.outcome === 'ACCEPTED' ? JSON.stringify(verdict.state) : null)}::jsonb`,
          `${$(verdict.contractVersions ?? [])}::text[]`,
        ].join(', ')})`,
        outbox: `(${[
          $(d.decisionId),
          $(proposal.entityId),
          `${$(
            JSON.stringify({
              proposalId: proposal.proposalId,
              agent: proposal.agent,
              action: proposal.action,
              outcome: verdict.outcome,
              reason: reasonOf(verdict),
              newVersion: d.versionAfter,
              conflictingVersion: d.conflicting,
              contractVersions: verdict.contractVersions ?? [],
              causationId: proposal.proposalId,
            }),
          )}::jsonb`,
          $(d.traceparent),
        ].join(', ')})`,
      };
    });
    const applied = [...states.values()].map(
      (d) =>
        `(${$(d.proposal.entityId)}, ${$(d.versionAfter)}::bigint, ${$(JSON.stringify(d.verdict.outcome === 'ACCEPTED' ? d.verdict.state : {}))}::jsonb)`,
    );
    // No foreign keys between the tables: each write is its own CTE of one statement.
    await this.raw.query(
      `with ${
        applied.length
          ? `applied as (
       update ${table(e, 'entities')} t set version = v.version, state = v.state, updated_at = now()
         from (values ${applied.join(', ')}) as v(entity_id, version, state) where t.entity_id = v.entity_id
     ), `
          : ''
      }audited as (
       insert into ${table(e, 'decisions')} (decision_id, proposal_id, entity_id, agent, action, outcome, reason,
         version_before, version_after, conflicting_version, state_after, contract_versions)
       values ${audited.map((a) => a.decision).join(', ')}
     )
     insert into ${table(e, 'outbox')} (decision_id, entity_id, payload, traceparent)
     values ${audited.map((a) => a.outbox).join(', ')}`,
      values,
    );
  }
}
