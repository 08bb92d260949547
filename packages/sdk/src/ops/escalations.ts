import { DecisionWaiter } from '../agents/decisions';
import type { ResolvedConfig } from '../config';
import { AccordError } from '../errors';
import { EventPublisher } from '../events/publisher';
import type { SqlPool } from '../infra/sql';
import { ESCALATION_COLUMNS, type EscalationRow, RESOLVE_ACTION } from '../owners/escalations';
import { type OwnerDecision, propose } from '../owners/propose';

export type { EscalationRow };

/** Escalations, oldest first: open ones by default. */
export async function listEscalations(
  pool: SqlPool,
  options: { status?: 'open' | 'accepted' | 'rejected' | 'all'; entityType?: string } = {},
): Promise<EscalationRow[]> {
  const status = options.status ?? 'open';
  const { rows } = await pool.query<EscalationRow>(
    `select ${ESCALATION_COLUMNS} from escalations
      where ($1 = 'all' or status = $1) and ($2::text is null or entity_type = $2)
      order by escalated_at, id`,
    [status, options.entityType ?? null],
  );
  return rows;
}

/**
 * Resolves an open escalation through its owner: a resolution proposal to the owner's proposals topic,
 * which the owner applies, audits as a decision (agent `operator:<by>`) and uses to close the escalation.
 * Resolves with that decision once the owner committed it.
 */
export async function resolveEscalation(
  config: ResolvedConfig,
  pool: SqlPool,
  id: number,
  resolution: { accept: boolean; reason: string; by: string; timeoutMs?: number },
): Promise<{ escalation: EscalationRow; decision: OwnerDecision }> {
  if (!resolution.reason.trim())
    throw new AccordError('USAGE', 'a resolution needs a reason (it is audited with the decision)');
  const { rows } = await pool.query<EscalationRow>(
    `select ${ESCALATION_COLUMNS} from escalations where id = $1`,
    [id],
  );
  const escalation = rows[0];
  if (!escalation) throw new AccordError('USAGE', `no escalation #${id} (see accord escalations list)`);
  if (escalation.status !== 'open')
    throw new AccordError(
      'USAGE',
      `escalation #${id} is already ${escalation.status} (by ${escalation.resolvedBy})`,
    );
  const publisher = new EventPublisher({ config, producer: `operator:${resolution.by}` });
  const waiter = new DecisionWaiter(pool);
  try {
    const proposalId = await propose(
      publisher,
      escalation.entityType,
      escalation.entityId,
      RESOLVE_ACTION,
      { escalationId: escalation.id, accept: resolution.accept },
      {
        agent: `operator:${resolution.by}`,
        reason: resolution.reason,
        topic: escalation.topic,
        causationId: escalation.proposalId,
      },
    );
    const decision = await waiter.decision(escalation.entityType, proposalId, resolution.timeoutMs ?? 30_000);
    return { escalation, decision };
  } finally {
    await waiter.close();
    await publisher.close();
  }
}
