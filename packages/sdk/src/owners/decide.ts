import { describeError } from '../errors';
import type { SqlClient } from '../infra/sql';
import { TerminalError } from '../pipelines/errors';
import type { ChangeProposal } from '../schemas/types.generated';
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

/** What the owner decided on a proposal. `conflicting`: the proposal expected a version the entity had left. */
export interface Made {
  decisionId: string;
  verdict: Verdict;
  versionBefore: number;
  versionAfter: number | null;
  conflicting: boolean;
}

export const reasonOf = (verdict: Verdict): string | null =>
  'reason' in verdict ? (verdict.reason ?? null) : null;

/** Duplicate key → rejected; stale version → rejected unless the change commutes (merge); else the owner decides. */
export async function judge(
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
export async function recordDuplicateAttempt(tx: SqlClient, e: string, proposal: Proposal): Promise<void> {
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
