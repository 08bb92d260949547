import type { SqlClient } from '../infra/sql';
import type { EntityState, Proposal, Verdict } from './types';

/** The action of a proposal that resolves an escalation (sent by `accord escalations resolve`). */
export const RESOLVE_ACTION = 'accord.resolve-escalation';

export interface EscalationRow {
  id: number;
  entityType: string;
  entityId: string;
  proposalId: string;
  decisionId: string;
  agent: string;
  action: string;
  change: Record<string, unknown>;
  reason: string | null;
  topic: string;
  status: 'open' | 'accepted' | 'rejected';
  escalatedAt: Date;
  resolvedBy: string | null;
  resolution: string | null;
  resolutionDecisionId: string | null;
  resolvedAt: Date | null;
}

export const ESCALATION_COLUMNS = `id::int as id, entity_type as "entityType", entity_id as "entityId",
  proposal_id as "proposalId", decision_id as "decisionId", agent, action, change, reason, topic, status,
  escalated_at as "escalatedAt", resolved_by as "resolvedBy", resolution,
  resolution_decision_id as "resolutionDecisionId", resolved_at as "resolvedAt"`;

/** An ESCALATED decision waits for a person: queued in the owner's transaction. */
export async function queueEscalation(
  tx: SqlClient,
  proposal: Proposal,
  decisionId: string,
  reason: string | null,
  topic: string,
): Promise<void> {
  await tx.query(
    `insert into escalations (entity_type, entity_id, proposal_id, decision_id, agent, action, change, reason, topic)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (proposal_id) do nothing`,
    [
      proposal.entityType,
      proposal.entityId,
      proposal.proposalId,
      decisionId,
      proposal.agent,
      proposal.action,
      JSON.stringify(proposal.change),
      reason,
      topic,
    ],
  );
}

/**
 * A resolution: the operator's verdict on an open escalation of this entity. Accepting applies the
 * escalated change to the current state (a person overrides the rules that escalated it); rejecting
 * changes nothing. Either way the escalation closes, pointing at this decision.
 */
export async function judgeResolution(
  tx: SqlClient,
  proposal: Proposal,
  current: EntityState,
): Promise<{ verdict: Verdict; close?: (decisionId: string) => Promise<void> }> {
  const { escalationId, accept } = proposal.change as { escalationId?: unknown; accept?: unknown };
  const { rows } = await tx.query<EscalationRow>(
    `select ${ESCALATION_COLUMNS} from escalations where id = $1 and entity_type = $2 for update`,
    [Number(escalationId), proposal.entityType],
  );
  const escalation = rows[0];
  if (!escalation || escalation.entityId !== proposal.entityId)
    return {
      verdict: {
        outcome: 'REJECTED',
        reason: `no escalation #${String(escalationId)} of ${proposal.entityType} ${proposal.entityId}`,
      },
    };
  if (escalation.status !== 'open')
    return {
      verdict: {
        outcome: 'REJECTED',
        reason: `escalation #${escalation.id} is already ${escalation.status}`,
      },
    };
  const why = proposal.reason ? `: ${proposal.reason}` : '';
  const verdict: Verdict =
    accept === true
      ? {
          outcome: 'ACCEPTED',
          state: { ...current.state, ...escalation.change },
          reason: `${proposal.agent} accepted escalation #${escalation.id} (${escalation.agent} ${escalation.action})${why}`,
        }
      : { outcome: 'REJECTED', reason: `${proposal.agent} rejected escalation #${escalation.id}${why}` };
  return {
    verdict,
    close: async (decisionId) => {
      await tx.query(
        `update escalations set status = $2, resolved_by = $3, resolution = $4, resolution_decision_id = $5, resolved_at = now()
          where id = $1`,
        [
          escalation.id,
          accept === true ? 'accepted' : 'rejected',
          proposal.agent,
          proposal.reason,
          decisionId,
        ],
      );
    },
  };
}
