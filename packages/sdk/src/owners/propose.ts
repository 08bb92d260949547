import { randomUUID } from 'node:crypto';
import { AccordError } from '../errors';
import type { SomePublisher } from '../events/publisher';
import { pollUntil } from '../infra/retry';
import type { SqlPool } from '../infra/sql';
import { table } from './types';

export interface ProposeOptions {
  agent: string;
  expectedVersion?: number | null;
  /** Default: a new UUID (no dedupe across re-sends). Re-send the same key to make a retry safe. */
  idempotencyKey?: string;
  reason?: string;
  /** What the agent decided on: features read with their staleness, contract versions. */
  context?: Record<string, unknown>;
  topic?: string;
}

export interface OwnerDecision {
  proposalId: string;
  outcome: 'ACCEPTED' | 'REJECTED' | 'ESCALATED';
  reason: string | null;
  versionBefore: number;
  versionAfter: number | null;
  conflictingVersion: number | null;
}

/** Agents propose; only the owner writes. Resolves with the proposal id once Kafka acknowledged it. */
export async function propose(
  publisher: SomePublisher,
  entityType: string,
  entityId: string,
  action: string,
  change: Record<string, unknown>,
  options: ProposeOptions,
): Promise<string> {
  const proposalId = randomUUID();
  await publisher.publish(
    'accord.platform.ChangeProposal',
    {
      proposalId,
      agent: options.agent,
      action,
      changeJson: JSON.stringify(change),
      expectedVersion: options.expectedVersion ?? null,
      idempotencyKey: options.idempotencyKey ?? proposalId,
      reason: options.reason ?? null,
      contextJson: options.context === undefined ? null : JSON.stringify(options.context),
    },
    { entityId, entityType, topic: options.topic ?? publisher.catalog.proposalsTopic(entityType) },
  );
  return proposalId;
}

/** Waits (bounded) for the owner's decision on a proposal, reading the audit with a read-only role. */
export async function awaitDecision(
  pool: SqlPool,
  entityType: string,
  proposalId: string,
  timeoutMs = 10000,
): Promise<OwnerDecision> {
  // Polled for now: #12 pushes decisions to the proposing agent instead.
  const decision = await pollUntil(
    async () => {
      const { rows } = await pool.query<OwnerDecision>(
        `select proposal_id as "proposalId", outcome, reason, version_before::int as "versionBefore",
                version_after::int as "versionAfter", conflicting_version::int as "conflictingVersion"
           from ${table(entityType, 'decisions')} where proposal_id = $1`,
        [proposalId],
      );
      return rows[0];
    },
    { timeoutMs, intervalMs: 50 },
  );
  if (decision) return decision;
  throw new AccordError(
    'KAFKA_UNAVAILABLE',
    `no decision on proposal ${proposalId} within ${timeoutMs} ms (is the ${entityType} owner running?)`,
    { retriable: true },
  );
}
