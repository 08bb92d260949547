import { randomUUID } from 'node:crypto';
import { describeError } from '../errors';
import type { SqlClient } from '../infra/sql';
import { TerminalError } from '../pipelines/errors';
import type { ChangeProposal } from '../schemas/types.generated';
import { currentTraceparent } from '../telemetry/tracing';
import { judgeResolution, queueEscalation, RESOLVE_ACTION } from './escalations';
import { commutes, outranks } from './rules';
import { type EntityState, type OwnerOptions, type Proposal, table, type Verdict } from './types';

/** A proposal as decoded from its Avro record (change and context are JSON strings on the wire). */
export function toProposal(entityType: string, value: Record<string, unknown>): Proposal {
  const p = value as unknown as ChangeProposal;
  let change: Record<string, unknown>;
  let context: Record<string, unknown> | null = null;
  try {
    change = JSON.parse(p.changeJson);
    if (p.contextJson) context = JSON.parse(p.contextJson);
  } catch (error) {
    throw new TerminalError(
      `proposal ${p.proposalId}: changeJson/contextJson is not JSON (${describeError(error)})`,
    );
  }
  if (p.envelope.entityType !== entityType)
    throw new TerminalError(`proposal ${p.proposalId} is for ${p.envelope.entityType}, not ${entityType}`);
  return {
    proposalId: p.proposalId,
    entityType,
    entityId: p.envelope.entityId,
    agent: p.agent,
    action: p.action,
    change,
    expectedVersion: p.expectedVersion ?? null,
    idempotencyKey: p.idempotencyKey,
    reason: p.reason ?? null,
    context,
    proposedAt: p.envelope.occurredAt,
    causationId: p.envelope.causationId ?? null,
    correlationId: p.envelope.correlationId ?? null,
  };
}

/**
 * Handles one proposal in the owner's transaction, in named steps: record it (a redelivery stops here),
 * lock the entity, judge it (duplicate key, stale version, commuting merge, the owner's decision), apply
 * the verdict, audit the decision, queue the decision event in the outbox. The pipeline commits the
 * checkpoint in the same transaction. Returns the decision (undefined for a redelivery).
 */
export async function handleProposal(
  tx: SqlClient,
  options: OwnerOptions,
  proposal: Proposal,
  topic: string,
): Promise<Made | undefined> {
  const fresh = await recordProposal(tx, options.entityType, proposal);
  if (fresh === 'redelivered') return undefined;
  const current = await lockEntity(tx, options.entityType, proposal.entityId);
  const resolution =
    proposal.action === RESOLVE_ACTION && fresh === 'new'
      ? await judgeResolution(tx, proposal, current)
      : undefined;
  const { verdict, conflicting } = resolution
    ? { verdict: resolution.verdict, conflicting: null }
    : await judge(tx, options, proposal, current, fresh === 'duplicate-key');
  const versionAfter = verdict.outcome === 'ACCEPTED' ? current.version + 1 : null;
  if (fresh === 'duplicate-key') await recordDuplicateAttempt(tx, options.entityType, proposal);
  const decisionId = randomUUID();
  await resolution?.close?.(decisionId);
  if (verdict.outcome === 'ESCALATED' && !resolution)
    await queueEscalation(tx, proposal, decisionId, reasonOf(verdict), topic);
  await writeDecision(tx, options.entityType, {
    decisionId,
    proposal,
    verdict,
    current,
    versionAfter,
    conflicting,
  });
  return {
    decisionId,
    verdict,
    versionBefore: current.version,
    versionAfter,
    conflicting: conflicting !== null,
  };
}

/** What handleProposal decided. `conflicting`: the proposal expected a version the entity had left. */
export interface Made {
  decisionId: string;
  verdict: Verdict;
  versionBefore: number;
  versionAfter: number | null;
  conflicting: boolean;
}

const reasonOf = (verdict: Verdict): string | null => ('reason' in verdict ? (verdict.reason ?? null) : null);

/** Appends the proposal to the audit. A redelivery of the same proposal changes nothing; a re-sent key is a duplicate. */
async function recordProposal(
  tx: SqlClient,
  e: string,
  proposal: Proposal,
): Promise<'new' | 'redelivered' | 'duplicate-key'> {
  const inserted = await tx.query(
    `insert into ${table(e, 'proposals')} (proposal_id, idempotency_key, entity_id, agent, action, change, expected_version, reason, context, proposed_at, causation_id, correlation_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10::double precision / 1000), $11, $12)
     on conflict do nothing`,
    [
      proposal.proposalId,
      proposal.idempotencyKey,
      proposal.entityId,
      proposal.agent,
      proposal.action,
      JSON.stringify(proposal.change),
      proposal.expectedVersion,
      proposal.reason,
      proposal.context === null ? null : JSON.stringify(proposal.context),
      proposal.proposedAt,
      proposal.causationId ?? null,
      proposal.correlationId ?? null,
    ],
  );
  if (inserted.rowCount !== 0) return 'new';
  const seen = await tx.query(`select 1 from ${table(e, 'proposals')} where proposal_id = $1`, [
    proposal.proposalId,
  ]);
  return seen.rowCount ? 'redelivered' : 'duplicate-key';
}

/** The entity's current version and state, locked for the rest of the transaction (created empty if new). */
async function lockEntity(tx: SqlClient, e: string, entityId: string): Promise<EntityState> {
  // One round trip on the common paths (measured: round trips bound an owner's decisions per second): a
  // new entity comes back from the insert, an existing one from the locking select (the statement's
  // snapshot cannot see a row the insert just made). A row another transaction inserted after that
  // snapshot shows in neither: then the two statements below, each with a fresh snapshot.
  const one = await tx.query<{ version: string; state: Record<string, unknown> }>(
    `with created as (
       insert into ${table(e, 'entities')} (entity_id) values ($1) on conflict do nothing returning version, state
     ), locked as (
       select version, state from ${table(e, 'entities')} where entity_id = $1 for update
     )
     select version, state from created union all select version, state from locked`,
    [entityId],
  );
  const row = one.rows[0];
  if (row) return { version: Number(row.version), state: row.state };
  await tx.query(`insert into ${table(e, 'entities')} (entity_id) values ($1) on conflict do nothing`, [
    entityId,
  ]);
  const { rows } = await tx.query<{ version: string; state: Record<string, unknown> }>(
    `select version, state from ${table(e, 'entities')} where entity_id = $1 for update`,
    [entityId],
  );
  return { version: Number(rows[0]?.version ?? 0), state: rows[0]?.state ?? {} };
}

/** Duplicate key → rejected; stale version → rejected unless the change commutes (merge); else the owner decides. */
async function judge(
  tx: SqlClient,
  options: OwnerOptions,
  proposal: Proposal,
  current: EntityState,
  duplicateKey: boolean,
): Promise<{ verdict: Verdict; conflicting: number | null }> {
  const e = options.entityType;
  const identity = proposal.proposer;
  if (identity?.status === 'forged')
    return {
      verdict: { outcome: 'REJECTED', reason: `forged proposer: ${identity.detail}` },
      conflicting: null,
    };
  if (options.proposers === 'required' && identity?.status !== 'verified')
    return {
      verdict: {
        outcome: 'REJECTED',
        reason: `unsigned proposer: ${proposal.agent} has no registered key (this owner requires signed proposals)`,
      },
      conflicting: null,
    };
  if (duplicateKey) {
    const original = await tx.query<{ proposal_id: string }>(
      `select proposal_id from ${table(e, 'proposals')} where idempotency_key = $1`,
      [proposal.idempotencyKey],
    );
    return {
      verdict: {
        outcome: 'REJECTED',
        reason: `duplicate: idempotency key ${proposal.idempotencyKey} was already used by proposal ${original.rows[0]?.proposal_id}`,
      },
      conflicting: null,
    };
  }
  let verdict: Verdict;
  let conflicting: number | null = null;
  if (
    proposal.expectedVersion !== null &&
    (proposal.expectedVersion > current.version || proposal.expectedVersion < 0)
  ) {
    // A version the entity never had is a lie, not staleness: nothing to merge with or outrank.
    return {
      verdict: {
        outcome: 'REJECTED',
        reason: `invalid expected version ${proposal.expectedVersion}: the ${e} is at version ${current.version} and never had that one`,
      },
      conflicting: current.version,
    };
  }
  if (proposal.expectedVersion !== null && proposal.expectedVersion !== current.version) {
    conflicting = current.version;
    const since = options.mergeCommuting
      ? await changedFieldsSince(tx, e, proposal.entityId, proposal.expectedVersion)
      : undefined;
    const overridden = options.priority
      ? await agentsSince(tx, e, proposal.entityId, proposal.expectedVersion)
      : [];
    const outranksAll =
      overridden.length > 0 && overridden.every((a) => outranks(proposal.agent, a, options.priority ?? []));
    if (outranksAll) {
      // Priority: a stale proposal from an agent that outranks every agent whose changes it missed is
      // decided on the current state instead of being refused.
      verdict = await options.decide({ proposal, current, tx });
      if (verdict.outcome === 'ACCEPTED')
        verdict = {
          ...verdict,
          reason: `priority: ${proposal.agent} outranks ${overridden.join(', ')}${verdict.reason ? `; ${verdict.reason}` : ''}`,
        };
    } else if (since && commutes(proposal.change, since)) {
      verdict = await options.decide({ proposal, current, tx });
      if (verdict.outcome === 'ACCEPTED') {
        verdict = {
          ...verdict,
          reason: `merged: commutes with the changes since version ${proposal.expectedVersion}${verdict.reason ? `; ${verdict.reason}` : ''}`,
        };
      }
    } else {
      verdict = {
        outcome: 'REJECTED',
        reason: `stale: expected version ${proposal.expectedVersion}, the ${e} is at version ${current.version}`,
      };
    }
  } else {
    verdict = await options.decide({ proposal, current, tx });
  }
  if (verdict.outcome === 'ACCEPTED' && verdict.compensates) {
    // A compensation must name a real earlier decision on this entity that it undoes.
    const earlier = await tx.query(
      `select 1 from ${table(e, 'decisions')} where decision_id = $1 and entity_id = $2 and outcome = 'ACCEPTED'`,
      [verdict.compensates, proposal.entityId],
    );
    if (!earlier.rowCount)
      return {
        verdict: {
          outcome: 'REJECTED',
          reason: `compensates decision ${verdict.compensates}, which is no accepted decision on ${e} ${proposal.entityId}`,
        },
        conflicting,
      };
    verdict = {
      ...verdict,
      reason: `compensates decision ${verdict.compensates}${verdict.reason ? `; ${verdict.reason}` : ''}`,
    };
  }
  return { verdict, conflicting };
}

/** A re-sent idempotency key: the audit keeps the attempt under its own proposal id. */
async function recordDuplicateAttempt(tx: SqlClient, e: string, proposal: Proposal): Promise<void> {
  await tx.query(
    `insert into ${table(e, 'proposals')} (proposal_id, idempotency_key, entity_id, agent, action, change, expected_version, reason, context, proposed_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, null, to_timestamp($9::double precision / 1000)) on conflict do nothing`,
    [
      proposal.proposalId,
      `${proposal.idempotencyKey}#dup:${proposal.proposalId}`,
      proposal.entityId,
      proposal.agent,
      proposal.action,
      JSON.stringify(proposal.change),
      proposal.expectedVersion,
      proposal.reason,
      proposal.proposedAt,
    ],
  );
}

interface Decided {
  decisionId: string;
  proposal: Proposal;
  verdict: Verdict;
  current: EntityState;
  versionAfter: number | null;
  conflicting: number | null;
}

/**
 * The decision's writes in one statement (one round trip): an accepted verdict's new state and version,
 * the audited decision, and its event queued in the outbox with the decision's trace context (the relay
 * publishes it in the same trace). The tables have no foreign keys between them; each write is its own CTE.
 */
async function writeDecision(tx: SqlClient, e: string, d: Decided): Promise<void> {
  const { proposal, verdict } = d;
  const accepted = verdict.outcome === 'ACCEPTED';
  await tx.query(
    `with applied as (
       update ${table(e, 'entities')} set version = $9, state = $11, updated_at = now()
        where entity_id = $3 and $14::boolean
     ), audited as (
       insert into ${table(e, 'decisions')} (decision_id, proposal_id, entity_id, agent, action, outcome, reason,
         version_before, version_after, conflicting_version, state_after, contract_versions)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     )
     insert into ${table(e, 'outbox')} (decision_id, entity_id, payload, traceparent) values ($1, $3, $13, $15)`,
    [
      d.decisionId,
      proposal.proposalId,
      proposal.entityId,
      proposal.agent,
      proposal.action,
      verdict.outcome,
      reasonOf(verdict),
      d.current.version,
      d.versionAfter,
      d.conflicting,
      accepted ? JSON.stringify(verdict.state) : null,
      verdict.contractVersions ?? [],
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
      accepted,
      currentTraceparent(),
    ],
  );
}

/** Agents whose accepted decisions changed the entity since `version`. */
async function agentsSince(
  tx: SqlClient,
  entityType: string,
  entityId: string,
  version: number,
): Promise<string[]> {
  const { rows } = await tx.query<{ agent: string }>(
    `select distinct agent from ${table(entityType, 'decisions')}
      where entity_id = $1 and outcome = 'ACCEPTED' and version_before >= $2`,
    [entityId, version],
  );
  return rows.map((r) => r.agent);
}

/** Top-level fields changed by accepted decisions since `version`. */
async function changedFieldsSince(
  tx: SqlClient,
  entityType: string,
  entityId: string,
  version: number,
): Promise<string[]> {
  const { rows } = await tx.query<{ key: string }>(
    `select distinct jsonb_object_keys(p.change) as key
       from ${table(entityType, 'decisions')} d join ${table(entityType, 'proposals')} p using (proposal_id)
      where d.entity_id = $1 and d.outcome = 'ACCEPTED' and d.version_before >= $2`,
    [entityId, version],
  );
  return rows.map((r) => r.key);
}
