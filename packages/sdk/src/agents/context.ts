import type { SomeAccord } from '../accord';
import { type ContractStore, evaluate } from '../contracts';
import { AccordError } from '../errors';
import { history } from '../events/history';
import type { SomePublisher } from '../events/publisher';
import type { FeatureReader } from '../features';
import { type FeatureResult, storeLost } from '../features/store';
import { deterministicId } from '../ids';
import type { SqlPool } from '../infra/sql';
import { propose } from '../owners/propose';
import { table } from '../owners/types';
import type { HandlerContext } from '../pipelines/types';
import { ATTR, inSpan } from '../telemetry/tracing';
import type { AgentRunOptions } from './agent';
import type { DecisionWaiter } from './decisions';
import type { AgentRun } from './run';
import type { SideEffectJournal } from './side-effects';
import type { AgentContext, AgentDefinition, AgentEvent, ProposalRef } from './types';

/**
 * The context an agent's handler gets for one event: state, features (with freshness objectives),
 * history, contracts, propose and decision, emit, side effects. What it reads and sends is noted on the
 * event's AgentRun (lineage); createAgent (agent.ts) makes the parts once and a context per event.
 */

/** The agent refused to decide on this event (stale context): handled, recorded, not dead-lettered. */
export class RefusedError extends AccordError {
  constructor(message: string) {
    super('CONTEXT_STALE', message);
  }
}

/** A proposal id derived from the triggering event: a redelivery re-sends the same proposal. */
function proposalIdFor(agent: string, eventId: string, n: number): string {
  return deterministicId(agent, eventId, n);
}

export interface Parts {
  definition: AgentDefinition;
  pool: SqlPool;
  publisher: SomePublisher;
  reader: FeatureReader | undefined;
  decisions: DecisionWaiter;
  journal: SideEffectJournal;
  contracts: ContractStore;
  options: AgentRunOptions;
}

export function context(
  parts: Parts,
  event: AgentEvent,
  hctx: HandlerContext,
  recompute: boolean,
  accord: SomeAccord,
  run: AgentRun,
): AgentContext {
  const { definition, pool, publisher, reader, decisions, journal, contracts } = parts;
  const agent = definition.name;
  const correlationId = event.correlationId ?? event.eventId;
  const log = accord.logger.child({ agent, eventId: event.eventId, correlationId });
  let proposals = 0;
  const refuse = async (
    feature: string,
    staleness: number | null,
    objective: number | null,
    reason: string,
  ) => {
    await pool.query(
      'insert into agent_refusals (agent, event_id, feature, staleness_ms, objective_ms, reason) values ($1, $2, $3, $4, $5, $6)',
      [agent, event.eventId, feature, staleness, objective, reason],
    );
    throw new RefusedError(`${feature}: ${reason}`);
  };
  return {
    agent,
    replay: hctx.replay,
    recompute,
    log,
    async state(entityType, entityId) {
      const { rows } = await pool.query<{ version: string; state: Record<string, unknown> }>(
        `select version, state from ${table(entityType, 'entities')} where entity_id = $1`,
        [entityId],
      );
      return rows[0] ? { version: Number(rows[0].version), state: rows[0].state } : undefined;
    },
    features: {
      async get(entityType, entityId, names) {
        const undeclared = names.filter((n) => !definition.reads?.features?.includes(n.split('@')[0] ?? n));
        if (undeclared.length)
          throw new AccordError(
            'CONFIG_INVALID',
            `agent ${agent} reads undeclared feature(s) ${undeclared.join(', ')}: add them to reads.features`,
          );
        if (!reader)
          throw new AccordError('CONFIG_INVALID', `agent ${agent} reads features but was given no views`);
        const values: Record<string, FeatureResult> = await inSpan(
          'feature read',
          {
            attributes: {
              [ATTR.agent]: agent,
              [ATTR.entityType]: entityType,
              [ATTR.entityId]: entityId,
              [ATTR.features]: names,
            },
          },
          async (span) => {
            const read = await reader.get(entityType, entityId, names);
            const staleness = run.read(entityType, entityId, read);
            if (staleness !== null) span.setAttribute(ATTR.staleness, staleness);
            return read;
          },
        );
        // A view whose Redis state was lost (or is being rebuilt) has no value worth deciding on, with or
        // without a freshness objective: counting from an emptied store would look like real context.
        for (const [name, v] of Object.entries(values))
          if (storeLost(v) && 'reason' in v)
            await refuse(
              name,
              null,
              definition.freshness?.[name] ?? null,
              `missing (${v.reason}): the feature store lost this view and is rebuilding it from the log`,
            );
        for (const [name, objective] of Object.entries(definition.freshness ?? {})) {
          const v = values[name];
          if (!v) continue;
          if ('missing' in v)
            await refuse(name, null, objective, `missing (${v.reason}); objective ${objective} ms`);
          else if (v.staleness > objective)
            await refuse(
              name,
              v.staleness,
              objective,
              `staleness ${v.staleness} ms exceeds the objective of ${objective} ms`,
            );
        }
        return values;
      },
    },
    history: (entityType, entityId, query = {}) => history(pool, { ...query, entityType, entityId }),
    contracts: {
      async evaluate(ref, input) {
        if (!definition.reads?.contracts?.includes(ref))
          throw new AccordError(
            'CONFIG_INVALID',
            `agent ${agent} evaluates undeclared contract ${ref}: add it to reads.contracts`,
          );
        const contract = await contracts.get(ref);
        const result = evaluate(contract.definition, input);
        run.contracts.push({ ref, result });
        return result;
      },
    },
    async propose(entityType, entityId, action, change, options = {}): Promise<ProposalRef> {
      if (!definition.proposes?.includes(entityType))
        throw new AccordError(
          'CONFIG_INVALID',
          `agent ${agent} proposes to ${entityType}, which its proposes list does not name`,
        );
      const proposalId = proposalIdFor(agent, event.eventId, proposals++);
      run.proposals.push({ proposalId, entityType, entityId, action });
      await inSpan(
        `${entityType} propose`,
        {
          attributes: {
            [ATTR.agent]: agent,
            [ATTR.proposalId]: proposalId,
            [ATTR.entityType]: entityType,
            [ATTR.entityId]: entityId,
            [ATTR.action]: action,
          },
        },
        () =>
          propose(publisher, entityType, entityId, action, change, {
            agent,
            proposalId,
            idempotencyKey: proposalId,
            ...(options.expectedVersion !== undefined ? { expectedVersion: options.expectedVersion } : {}),
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            ...(options.context !== undefined ? { context: options.context } : {}),
            causationId: event.eventId,
            correlationId,
            ...(parts.options.proposalsTopic ? { topic: parts.options.proposalsTopic(entityType) } : {}),
            ...(parts.options.signingKey ? { signingKey: parts.options.signingKey } : {}),
          }),
      );
      return { proposalId, entityType, entityId };
    },
    decision: (proposal, options = {}) =>
      inSpan('decision wait', { attributes: { [ATTR.proposalId]: proposal.proposalId } }, async (span) => {
        const decision = await decisions.decision(
          proposal.entityType,
          proposal.proposalId,
          options.timeoutMs ?? parts.options.decisionTimeoutMs ?? 30_000,
        );
        span.setAttributes({ [ATTR.decisionId]: decision.decisionId, [ATTR.outcome]: decision.outcome });
        return decision;
      }),
    async emit(type, data, options) {
      const resolved = publisher.catalog.resolveEventName(type);
      if (!definition.emits?.includes(resolved) && !definition.emits?.includes(type))
        throw new AccordError(
          'CONFIG_INVALID',
          `agent ${agent} emits ${resolved}, which its emits list does not name`,
        );
      const published = await publisher.publish(resolved, data as never, {
        ...options,
        causationId: event.eventId,
        correlationId,
      });
      run.emitted.push({ eventId: published.eventId, type: resolved, topic: published.topic });
      return published;
    },
    sideEffect: (name, call) => journal.run(event.eventId, name, call, recompute),
  };
}
