import { z } from 'zod';
import { resolveConfig } from '../config';
import { AccordError } from '../errors';
import { namespacedGroup } from '../events/topics';
import type { SqlClient } from '../infra/sql';
import { TerminalError } from '../pipelines/errors';
import { createPipeline, type Pipeline } from '../pipelines/pipeline';
import type { ChunkPass } from '../pipelines/types';
import { defaultLogger } from '../telemetry/log';
import type { LifecycleEvent } from '../telemetry/seam';
import { ATTR, activeContext, inSpan, linkTo, ROOT_CONTEXT } from '../telemetry/tracing';
import { fn, parseOptions } from '../validation';
import { type ChunkItem, decideChunk } from './chunk';
import { toProposal } from './decide';
import { ProposerKeys, SIGNATURE_HEADER } from './identity';
import type { OwnerOptions } from './types';

export { relayOutbox, startOutboxRelay } from './outbox';
export * from './types';

/**
 * An owner: a transactional pipeline on the entity's proposals topic. Each decision is told to the
 * pipeline's telemetry as a `decided` event once its transaction committed (a rolled-back or fenced chunk
 * tells nothing).
 */
const Options = z.looseObject({
  entityType: z.string().regex(/^[a-z][a-z0-9_]{0,40}$/, 'must be a lower-case entity type name, e.g. order'),
  decide: fn(),
  group: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, "must be letters, digits, '.', '_' or '-'")
    .optional(),
  topic: z.string().min(1).optional(),
  mergeCommuting: z.boolean().optional(),
  priority: z.array(z.string().min(1)).optional(),
  proposers: z.enum(['when-registered', 'required']).optional(),
  partitionsAtOnce: z.int().min(1).max(64).optional(),
  pool: z.looseObject({}, { error: 'must be a Postgres pool (as the owner role)' }),
});

interface Pending {
  proposedAt: number;
  event: Extract<LifecycleEvent, { type: 'decided' }>;
}

export function defineOwner(options: OwnerOptions): Pipeline {
  parseOptions(`invalid options of the ${String(options?.entityType)} owner`, Options, options);
  const config = options.config ?? resolveConfig();
  const group = options.group ?? namespacedGroup(`owner-${options.entityType}`);
  if (!options.topic && !options.catalog)
    throw new AccordError(
      'CONFIG_INVALID',
      `owner of ${options.entityType}: give option catalog (to name its proposals topic) or option topic`,
    );
  const topic = options.topic ?? options.catalog?.proposalsTopic(options.entityType) ?? '';
  // Decisions of the chunk in flight, per partition and offset (a chunk run again overwrites its own).
  const pending = new Map<number, Map<bigint, Pending>>();
  // Proposals of a chunk's first pass, decided together when the chunk ends (keyed by the pass: a failed
  // pass's are never decided).
  const chunks = new WeakMap<ChunkPass, (ChunkItem & { offset: bigint })[]>();
  const keys = new ProposerKeys();
  const identityLog = (options.logger ?? defaultLogger()).child({ owner: options.entityType });
  const pipeline = createPipeline({
    name: group,
    group,
    topics: [topic],
    mode: 'transactional',
    from: 'earliest',
    // Partitions decided at once (bench/decision-roundtrip at 1000/s on 3 partitions: p95 706 ms one at a
    // time, 199 ms four at once).
    partitionsAtOnce: options.partitionsAtOnce ?? 4,
    config,
    pool: options.pool,
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.catalog ? { catalog: options.catalog } : {}),
    handler: async (event, ctx) => {
      if (!ctx.tx || !event.value)
        throw new TerminalError('owner needs a transaction and a decoded proposal');
      const proposal = toProposal(options.entityType, event.value);
      proposal.proposer = await keys.check(
        ctx.tx,
        {
          entityType: options.entityType,
          entityId: proposal.entityId,
          proposalId: proposal.proposalId,
          agent: proposal.agent,
          action: proposal.action,
          changeJson: String(event.value.changeJson),
          expectedVersion: proposal.expectedVersion,
          idempotencyKey: proposal.idempotencyKey,
        },
        event.headers[SIGNATURE_HEADER],
      );
      if (proposal.proposer.status === 'forged')
        identityLog.warn(
          {
            proposalId: proposal.proposalId,
            agent: proposal.agent,
            topic: event.topic,
            partition: event.partition,
            offset: event.offset,
          },
          `forged proposer refused: ${proposal.proposer.detail}`,
        );
      const item = { proposal, topic: event.topic, trace: activeContext(), offset: BigInt(event.offset) };
      if (ctx.chunk.deferrable) {
        // Decided with the rest of the chunk in afterChunk (a few round trips for the chunk instead of
        // three per proposal); a failure there runs the chunk again one proposal at a time, here.
        const items = chunks.get(ctx.chunk) ?? [];
        chunks.set(ctx.chunk, items);
        items.push(item);
        return;
      }
      await decide(ctx.tx, event.partition, [item]);
    },
    afterChunk: async (chunk) => {
      const items = chunks.get(chunk);
      if (!items || !chunk.tx) return;
      chunks.delete(chunk);
      await decide(chunk.tx, chunk.partition, items);
    },
  });
  /** Decides `items` (in order) and keeps each decision to tell once its transaction committed. */
  async function decide(tx: SqlClient, partition: number, items: (ChunkItem & { offset: bigint })[]) {
    // The chunk's shared statements (record, lock, write) in a span of their own: in the proposal's trace
    // when it is alone, else a root linked to every proposal's (each proposal's decide span stays in its trace).
    const links = items.flatMap((i) => linkTo(i.trace) ?? []).slice(0, 128);
    const made = await inSpan(
      `${options.entityType} decide chunk`,
      {
        parent: items.length === 1 ? (items[0]?.trace ?? ROOT_CONTEXT) : ROOT_CONTEXT,
        links,
        attributes: { [ATTR.entityType]: options.entityType, 'accord.chunk.proposals': items.length },
      },
      () => decideChunk(tx, options, items),
    );
    if (!pipeline.telemetry.listening) return;
    const byOffset = pending.get(partition) ?? new Map<bigint, Pending>();
    pending.set(partition, byOffset);
    for (const [i, { proposal, offset }] of items.entries()) {
      const decided = made[i];
      if (!decided) continue;
      byOffset.set(offset, {
        proposedAt: proposal.proposedAt,
        event: {
          type: 'decided',
          entityType: options.entityType,
          entityId: proposal.entityId,
          proposalId: proposal.proposalId,
          decisionId: decided.decisionId,
          agent: proposal.agent,
          outcome: decided.verdict.outcome,
          compensates: decided.verdict.outcome === 'ACCEPTED' && decided.verdict.compensates !== undefined,
          conflicting: decided.conflicting,
          latencyMs: 0,
        },
      });
    }
  }
  pipeline.telemetry.on((e) => {
    if (e.type === 'checkpointed' && e.group === group) {
      const byOffset = pending.get(e.partition);
      if (!byOffset) return;
      const now = Date.now();
      for (const [offset, decided] of [...byOffset]) {
        if (offset >= BigInt(e.offset)) continue;
        byOffset.delete(offset);
        pipeline.telemetry.emit({ ...decided.event, latencyMs: Math.max(0, now - decided.proposedAt) });
      }
    } else if (e.type === 'fenced' && e.group === group) pending.delete(e.partition);
  });
  return pipeline;
}
