import { type KeyObject, randomUUID } from 'node:crypto';
import { DecisionWaiter } from '../agents/decisions';
import { AccordError } from '../errors';
import type { SomePublisher } from '../events/publisher';
import type { SqlPool } from '../infra/sql';
import { SIGNATURE_HEADER, type SignedFields, signProposal } from './identity';

export interface ProposeOptions {
  agent: string;
  /** Default: a new UUID. Agents derive it from the triggering event, so a redelivery re-sends the same proposal. */
  proposalId?: string;
  expectedVersion?: number | null;
  /** Default: a new UUID (no dedupe across re-sends). Re-send the same key to make a retry safe. */
  idempotencyKey?: string;
  reason?: string;
  /** What the agent decided on: features read with their staleness, contract versions. */
  context?: Record<string, unknown>;
  topic?: string;
  /** The event that led to the proposal, and the conversation it belongs to (see the envelope). */
  causationId?: string | null;
  correlationId?: string | null;
  /** The agent's Ed25519 key: the proposal carries its signature, which owners check (identity.ts). */
  signingKey?: KeyObject;
}

export interface OwnerDecision {
  proposalId: string;
  decisionId: string;
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
  const proposalId = options.proposalId ?? randomUUID();
  const signed: SignedFields = {
    entityType,
    entityId,
    proposalId,
    agent: options.agent,
    action,
    changeJson: JSON.stringify(change),
    expectedVersion: options.expectedVersion ?? null,
    idempotencyKey: options.idempotencyKey ?? proposalId,
  };
  await publisher.publish(
    'accord.platform.ChangeProposal',
    {
      proposalId,
      agent: options.agent,
      action,
      changeJson: signed.changeJson,
      expectedVersion: signed.expectedVersion,
      idempotencyKey: signed.idempotencyKey,
      reason: options.reason ?? null,
      contextJson: options.context === undefined ? null : JSON.stringify(options.context),
    },
    {
      entityId,
      entityType,
      topic: options.topic ?? publisher.catalog.proposalsTopic(entityType),
      causationId: options.causationId ?? null,
      correlationId: options.correlationId ?? null,
      ...(options.signingKey
        ? { headers: { [SIGNATURE_HEADER]: signProposal(options.signingKey, signed) } }
        : {}),
    },
  );
  return proposalId;
}

/** Waits (bounded) for the owner's decision on a proposal: told by Postgres when it commits (see DecisionWaiter). */
export async function awaitDecision(
  pool: SqlPool,
  entityType: string,
  proposalId: string,
  timeoutMs = 10000,
): Promise<OwnerDecision> {
  const waiter = new DecisionWaiter(pool);
  try {
    return await waiter.decision(entityType, proposalId, timeoutMs);
  } finally {
    await waiter.close();
  }
}
