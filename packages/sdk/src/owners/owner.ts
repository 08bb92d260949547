import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { type ResolvedConfig, resolveConfig } from '../config';
import { AccordError, describeError } from '../errors';
import type { EventPublisher } from '../events/publisher';
import { domainOfEntity, eventsTopic, proposalsTopic } from '../events/topics';
import { createPipeline, type Pipeline, TerminalError } from '../pipelines';
import type { ChangeProposal } from '../schemas/types.generated';
import { commutes, ownerMetrics } from './rules';

export interface Proposal {
  proposalId: string;
  entityType: string;
  entityId: string;
  agent: string;
  action: string;
  change: Record<string, unknown>;
  expectedVersion: number | null;
  idempotencyKey: string;
  reason: string | null;
  context: Record<string, unknown> | null;
  proposedAt: number;
}

export interface EntityState {
  version: number;
  state: Record<string, unknown>;
}

export type Verdict =
  | {
      outcome: 'ACCEPTED';
      state: Record<string, unknown>;
      reason?: string;
      contractVersions?: string[];
      /** This decision undoes an earlier one (a rollback): counted, and said in the reason. */
      compensates?: string;
    }
  | { outcome: 'REJECTED' | 'ESCALATED'; reason: string; contractVersions?: string[] };

export interface DecideContext {
  proposal: Proposal;
  current: EntityState;
  /** The owner's transaction: reads (contracts over SQL, other facts) see the same snapshot it writes in. */
  tx: PoolClient;
}

export interface OwnerOptions {
  entityType: string;
  /** The owner's decision. Runs after duplicates and stale versions were refused. */
  decide: (ctx: DecideContext) => Promise<Verdict> | Verdict;
  /** Consumer group; default owner-<entityType>. */
  group?: string;
  /** Defaults to <domain>.<entity>.proposals. */
  topic?: string;
  config?: ResolvedConfig;
  /**
   * Let a stale proposal through when its change touches none of the fields changed since the version
   * it expected (the changes commute); otherwise stale proposals are refused (first valid one wins).
   */
  mergeCommuting?: boolean;
  /** Postgres as the owner's role (accord_owner_<entity>). */
  pool: Pool;
  onError?: (error: unknown) => void;
}

export function table(entityType: string, kind: 'entities' | 'proposals' | 'decisions' | 'outbox'): string {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(entityType))
    throw new AccordError('CONFIG_INVALID', `invalid entity type "${entityType}"`);
  return `"${entityType}_${kind}"`;
}

function toProposal(entityType: string, value: Record<string, unknown>): Proposal {
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
  };
}

/**
 * Handles one proposal in the owner's transaction: drop a redelivery; refuse a re-sent idempotency key;
 * lock the entity and check the expected version; decide; apply and bump the version; append the proposal
 * and the decision to the audit; queue the decision event in the outbox. The pipeline commits the checkpoint
 * in the same transaction.
 */
export async function handleProposal(
  tx: PoolClient,
  options: OwnerOptions,
  proposal: Proposal,
): Promise<void> {
  const e = options.entityType;
  const inserted = await tx.query(
    `insert into ${table(e, 'proposals')} (proposal_id, idempotency_key, entity_id, agent, action, change, expected_version, reason, context, proposed_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10::double precision / 1000))
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
    ],
  );
  if (inserted.rowCount === 0) {
    const seen = await tx.query(`select 1 from ${table(e, 'proposals')} where proposal_id = $1`, [
      proposal.proposalId,
    ]);
    if (seen.rowCount) return; // the same proposal redelivered: already decided
  }
  await tx.query(`insert into ${table(e, 'entities')} (entity_id) values ($1) on conflict do nothing`, [
    proposal.entityId,
  ]);
  const { rows } = await tx.query<{ version: string; state: Record<string, unknown> }>(
    `select version, state from ${table(e, 'entities')} where entity_id = $1 for update`,
    [proposal.entityId],
  );
  const current: EntityState = { version: Number(rows[0]?.version ?? 0), state: rows[0]?.state ?? {} };

  let verdict: Verdict;
  let conflicting: number | null = null;
  if (inserted.rowCount === 0) {
    const original = await tx.query<{ proposal_id: string }>(
      `select proposal_id from ${table(e, 'proposals')} where idempotency_key = $1`,
      [proposal.idempotencyKey],
    );
    verdict = {
      outcome: 'REJECTED',
      reason: `duplicate: idempotency key ${proposal.idempotencyKey} was already used by proposal ${original.rows[0]?.proposal_id}`,
    };
  } else if (proposal.expectedVersion !== null && proposal.expectedVersion !== current.version) {
    conflicting = current.version;
    const since = options.mergeCommuting
      ? await changedFieldsSince(tx, e, proposal.entityId, proposal.expectedVersion)
      : undefined;
    if (since && commutes(proposal.change, since)) {
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
    verdict = {
      ...verdict,
      reason: `compensates decision ${verdict.compensates}${verdict.reason ? `; ${verdict.reason}` : ''}`,
    };
    ownerMetrics.compensations++;
  }
  if (verdict.outcome === 'ACCEPTED') ownerMetrics.accepted++;
  else if (verdict.outcome === 'REJECTED') ownerMetrics.rejected++;
  else ownerMetrics.escalated++;

  const newState = verdict.outcome === 'ACCEPTED' ? verdict.state : null;
  const accepted = newState !== null;
  const versionAfter = accepted ? current.version + 1 : null;
  if (accepted) {
    await tx.query(
      `update ${table(e, 'entities')} set version = $2, state = $3, updated_at = now() where entity_id = $1`,
      [proposal.entityId, versionAfter, JSON.stringify(newState)],
    );
  }
  const decisionId = randomUUID();
  if (inserted.rowCount === 0) {
    // A re-sent idempotency key: the audit keeps the attempt under its own proposal id.
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
  await tx.query(
    `insert into ${table(e, 'decisions')} (decision_id, proposal_id, entity_id, agent, action, outcome, reason, version_before,
       version_after, conflicting_version, state_after, contract_versions)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      decisionId,
      proposal.proposalId,
      proposal.entityId,
      proposal.agent,
      proposal.action,
      verdict.outcome,
      'reason' in verdict ? (verdict.reason ?? null) : null,
      current.version,
      versionAfter,
      conflicting,
      accepted ? JSON.stringify(newState) : null,
      verdict.contractVersions ?? [],
    ],
  );
  await tx.query(`insert into ${table(e, 'outbox')} (decision_id, entity_id, payload) values ($1, $2, $3)`, [
    decisionId,
    proposal.entityId,
    JSON.stringify({
      proposalId: proposal.proposalId,
      agent: proposal.agent,
      action: proposal.action,
      outcome: verdict.outcome,
      reason: 'reason' in verdict ? (verdict.reason ?? null) : null,
      newVersion: versionAfter,
      conflictingVersion: conflicting,
      contractVersions: verdict.contractVersions ?? [],
      causationId: proposal.proposalId,
    }),
  ]);
}

/** Top-level fields changed by accepted decisions since `version`. */
async function changedFieldsSince(
  tx: PoolClient,
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

/** An owner: a transactional pipeline on the entity's proposals topic. */
export function defineOwner(options: OwnerOptions): Pipeline {
  const config = options.config ?? resolveConfig();
  const group = options.group ?? `owner-${options.entityType}`;
  return createPipeline({
    name: group,
    group,
    topics: [options.topic ?? proposalsTopic(options.entityType)],
    mode: 'transactional',
    from: 'earliest',
    config,
    pool: options.pool,
    ...(options.onError ? { onError: options.onError } : {}),
    handler: async (event, ctx) => {
      if (!ctx.tx || !event.value)
        throw new TerminalError('owner needs a transaction and a decoded proposal');
      await handleProposal(ctx.tx, options, toProposal(options.entityType, event.value));
    },
  });
}

/**
 * Publishes the outbox's decision events to the entity's events topic (at least once; consumers dedupe by
 * event id, which is the decision id). Returns how many it published.
 */
export async function relayOutbox(
  pool: Pool,
  publisher: EventPublisher,
  entityType: string,
  options: { topic?: string; limit?: number } = {},
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{
      id: string;
      decision_id: string;
      entity_id: string;
      payload: Record<string, unknown>;
      created_at: Date;
    }>(
      `select id, decision_id, entity_id, payload, created_at from ${table(entityType, 'outbox')}
        where published_at is null order by id limit $1 for update skip locked`,
      [options.limit ?? 500],
    );
    if (rows.length === 0) {
      await client.query('commit');
      return 0;
    }
    const topic = options.topic ?? eventsTopic(entityType, domainOfEntity(entityType));
    await publisher.publishMany(
      rows.map((r) => {
        const { causationId, ...data } = r.payload as { causationId: string } & Record<string, unknown>;
        return {
          type: 'accord.platform.Decision',
          data: data as never,
          options: {
            entityId: r.entity_id,
            entityType,
            topic,
            eventId: r.decision_id,
            causationId,
            occurredAt: r.created_at,
          },
        };
      }),
    );
    await client.query(
      `update ${table(entityType, 'outbox')} set published_at = now() where id = any($1::bigint[])`,
      [rows.map((r) => r.id)],
    );
    await client.query('commit');
    return rows.length;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Runs relayOutbox every `intervalMs` (and at once) until stopped. Errors go to `onError` and the loop goes on. */
export function startOutboxRelay(
  pool: Pool,
  publisher: EventPublisher,
  entityType: string,
  options: { topic?: string; intervalMs?: number; onError?: (error: unknown) => void } = {},
): { stop: () => Promise<void>; published: () => number } {
  let stopped = false;
  let published = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        const n = await relayOutbox(
          pool,
          publisher,
          entityType,
          options.topic ? { topic: options.topic } : {},
        );
        published += n;
        if (n > 0) continue;
      } catch (error) {
        options.onError?.(error);
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
    published: () => published,
  };
}
