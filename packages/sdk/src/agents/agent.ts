import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { SomeAccord } from '../accord';
import { ContractStore } from '../contracts';
import { AccordError } from '../errors';
import { namespacedGroup } from '../events/topics';
import type { FeatureView } from '../features/views';
import type { SqlPool } from '../infra/sql';
import { loadSigningKey } from '../owners/identity';
import type { Pipeline } from '../pipelines/pipeline';
import type { PipelineEvent } from '../pipelines/types';
import { ATTR, inSpan } from '../telemetry/tracing';
import { fn, parseOptions } from '../validation';
import { context, RefusedError } from './context';
import { watchAgentControl } from './controls';
import { DecisionWaiter } from './decisions';
import { LineageWriter } from './lineage-writer';
import { AgentRun } from './run';
import { SideEffectJournal } from './side-effects';
import type { AgentDefinition, AgentEvent } from './types';

export { RefusedError } from './context';

const NAME = /^[a-z][a-z0-9_]{0,40}$/;
const Definition = z.looseObject({
  name: z.string().regex(NAME, 'must be lower-case letters, digits and _ (at most 41 characters)'),
  consumes: z.array(z.string().min(1)).min(1, 'must name at least one topic'),
  reads: z
    .strictObject({ features: z.array(z.string()).optional(), contracts: z.array(z.string()).optional() })
    .optional(),
  proposes: z.array(z.string().regex(NAME, 'must be an entity type')).optional(),
  emits: z.array(z.string()).optional(),
  freshness: z.record(z.string(), z.int().min(0, 'must be a staleness in ms')).optional(),
  from: z.enum(['earliest', 'latest']).optional(),
  handle: fn(),
});

/** Checks an agent's definition (every bad field named) and returns it: what `accord deploy` runs. */
export function defineAgent(definition: AgentDefinition): AgentDefinition {
  parseOptions(`invalid agent ${String(definition?.name)}`, Definition, definition);
  for (const feature of Object.keys(definition.freshness ?? {}))
    if (!definition.reads?.features?.includes(feature))
      throw new AccordError(
        'CONFIG_INVALID',
        `invalid agent ${definition.name}: freshness names feature "${feature}", which reads.features does not list`,
      );
  return definition;
}

export interface AgentRunOptions {
  /** The feature views its reads resolve against (e.g. the reference domain's). */
  views?: FeatureView[];
  /** Consumer group; default agent-<name>. */
  group?: string;
  /** How long ctx.decision waits by default. Default 30 s. */
  decisionTimeoutMs?: number;
  /** Redis key prefix of the feature values it reads (tests use their own). Default none. */
  featurePrefix?: string;
  /** Where proposals to an entity type go. Default: the catalog's <domain>.<entity>.proposals. */
  proposalsTopic?: (entityType: string) => string;
  /**
   * The key its proposals are signed with. Default: ACCORD_SIGNING_KEY_FILE, else the local stack's key
   * for this agent (accord deploy made it); none: proposals go unsigned (owners requiring it refuse them).
   */
  signingKey?: KeyObject | null;
  /**
   * Partitions handled at once, each still in order (default 1). A handler that waits for its decision
   * holds its partition for the whole loop; more partitions at once keep more loops in flight.
   */
  partitionsAtOnce?: number;
  /**
   * Checkpoints on a timer instead of after every batch (the pipeline option). Default 250 ms, as feature
   * pipelines: a crash re-runs at most that much, and a re-run is idempotent (proposal ids derive from the
   * event, side effects are journaled); the agent loop's p95 at 1,000 events/s went 55–68 → 51–59 ms.
   * 0: a checkpoint written at each chunk's end.
   */
  checkpointEveryMs?: number;
  /**
   * Events of different entities handled at once within a partition, each entity's in order (the
   * pipeline option; default 1). A handler waiting for its decision otherwise holds the partition.
   */
  keyConcurrency?: number;
}

/** A running agent: a checkpointed pipeline whose handler gets the agent's context. */
export interface Agent {
  readonly name: string;
  readonly group: string;
  readonly pipeline: Pipeline;
  /** True while an operator has paused it (accord pause): it consumes and proposes nothing. */
  readonly paused: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs an agent from a context (made for the agent's own Postgres role: accord_agent_<name>). The
 * pipeline is at-least-once: a handler's proposals and emitted events may be sent again after a crash,
 * and are deduplicated downstream (same proposal id; same event ids for the archive).
 */
export function createAgent(
  accord: SomeAccord,
  definition: AgentDefinition,
  options: AgentRunOptions = {},
): Agent {
  defineAgent(definition);
  const views = new Map((options.views ?? []).map((v) => [v.name, v]));
  for (const name of definition.reads?.features ?? [])
    if (options.views && !views.has(name))
      throw new AccordError(
        'CONFIG_INVALID',
        `agent ${definition.name} reads feature "${name}", which no view defines`,
      );
  const pool = accord.pool();
  const publisher = accord.publisher({ producer: definition.name });
  const reader = options.views
    ? accord.featureReader({
        views: options.views,
        ...(options.featurePrefix ? { prefix: options.featurePrefix } : {}),
      })
    : undefined;
  const decisions = new DecisionWaiter(pool);
  const lineage = new LineageWriter(pool, (error, eventIds) =>
    accord.logger.warn(
      { agent: definition.name, eventIds: eventIds.slice(0, 10), events: eventIds.length, error },
      'recording agent runs for lineage failed',
    ),
  );
  const journal = new SideEffectJournal(pool, definition.name);
  const contracts = new ContractStore(pool);
  const recomputes = new Map<number, Promise<boolean>>();
  const group = options.group ?? namespacedGroup(`agent-${definition.name}`);
  // Its identity: proposals signed with its key when it has one (an explicit null turns signing off).
  const signingKey =
    options.signingKey === undefined ? loadSigningKey(definition.name) : (options.signingKey ?? undefined);
  const signed: AgentRunOptions = { ...options, ...(signingKey ? { signingKey } : {}) };
  const pipeline = accord.pipeline({
    name: group,
    group,
    topics: definition.consumes,
    from: definition.from ?? 'earliest',
    ...(options.partitionsAtOnce === undefined ? {} : { partitionsAtOnce: options.partitionsAtOnce }),
    checkpointEveryMs: options.checkpointEveryMs ?? 250,
    ...(options.keyConcurrency === undefined ? {} : { keyConcurrency: options.keyConcurrency }),
    handler: async (event, hctx) => {
      const recompute =
        hctx.replay && hctx.replayId !== undefined
          ? await replayRecomputes(pool, recomputes, hctx.replayId)
          : false;
      const agentEvent = toAgentEvent(event);
      const run = new AgentRun(definition.name, agentEvent);
      const ctx = context(
        { definition, pool, publisher, reader, decisions, journal, contracts, options: signed },
        agentEvent,
        hctx,
        recompute,
        accord,
        run,
      );
      await inSpan(
        `agent ${definition.name} handle`,
        {
          attributes: {
            [ATTR.agent]: definition.name,
            [ATTR.eventId]: agentEvent.eventId,
            [ATTR.eventType]: agentEvent.type,
            [ATTR.entityType]: agentEvent.entityType,
            [ATTR.entityId]: agentEvent.entityId,
          },
        },
        async (span) => {
          try {
            await definition.handle(agentEvent, ctx);
            run.outcome = run.proposals.length > 0 ? 'proposed' : 'idle';
          } catch (error) {
            if (error instanceof RefusedError) {
              run.outcome = 'refused';
              ctx.log.warn({ reason: error.message }, 'refused to decide: context stale or missing');
              return;
            }
            run.outcome = 'failed';
            run.error = error;
            throw error;
          } finally {
            span.setAttribute('accord.agent.outcome', run.outcome);
            await run.record(lineage, accord, hctx.replay);
          }
        },
      );
    },
  });
  let unwatch: (() => Promise<void>) | undefined;
  return {
    name: definition.name,
    group,
    pipeline,
    get paused() {
      return pipeline.isPaused;
    },
    async start() {
      await pipeline.start();
      // The kill switch, fleet-wide: paused at start if it is set, and whenever an operator sets it.
      unwatch = await watchAgentControl(pool, definition.name, (paused) => {
        if (paused) pipeline.pause();
        else
          pipeline
            .resume()
            .catch((error: unknown) =>
              accord.logger.error({ agent: definition.name, error }, 'resuming failed'),
            );
      });
    },
    async stop() {
      await unwatch?.();
      await pipeline.stop();
      await decisions.close();
    },
  };
}

function replayRecomputes(
  pool: SqlPool,
  cache: Map<number, Promise<boolean>>,
  replayId: number,
): Promise<boolean> {
  let known = cache.get(replayId);
  if (!known) {
    known = pool
      .query<{ recompute: boolean }>('select recompute from pipeline_replays where id = $1', [replayId])
      .then(({ rows }) => rows[0]?.recompute === true);
    cache.set(replayId, known);
  }
  return known;
}

function toAgentEvent(event: PipelineEvent): AgentEvent {
  const { envelope, ...data } = (event.value ?? {}) as {
    envelope?: {
      eventId: string;
      eventType: string;
      entityType: string;
      entityId: string;
      correlationId?: string | null;
    };
  } & Record<string, unknown>;
  if (!envelope)
    throw new AccordError(
      'EVENT_INVALID',
      `${event.topic}[${event.partition}]@${event.offset} carries no envelope`,
    );
  return {
    ...event,
    key: event.key, // getters of the record (records.ts): a spread does not carry them
    headers: event.headers,
    type: envelope.eventType,
    eventId: envelope.eventId,
    entityType: envelope.entityType,
    entityId: envelope.entityId,
    correlationId: envelope.correlationId ?? null,
    data,
  };
}
