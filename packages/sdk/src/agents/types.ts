import type { HistoryEvent, HistoryQuery } from '../events/history';
import type { PublishedRecord, PublishOptions } from '../events/publisher';
import type { FeatureResult } from '../features/store';
import type { OwnerDecision } from '../owners/propose';
import type { PipelineEvent } from '../pipelines/types';
import type { Logger } from '../telemetry/log';

/** The event an agent handles: the pipeline event with its type, envelope and own fields at hand. */
export interface AgentEvent extends PipelineEvent {
  /** The event type (full name), e.g. accord.commerce.OrderPlaced. */
  type: string;
  eventId: string;
  entityType: string;
  entityId: string;
  correlationId: string | null;
  /** The event's own fields (everything but the envelope). */
  data: Record<string, unknown>;
}

/** A proposal the agent made: what `ctx.decision()` waits on. */
export interface ProposalRef {
  proposalId: string;
  entityType: string;
  entityId: string;
}

export interface ProposeOptions {
  expectedVersion?: number | null;
  reason?: string;
  /** What the agent decided on (features with their staleness, contract versions…): audited with the proposal. */
  context?: Record<string, unknown>;
}

/**
 * What a handler gets besides the event. Reads are read-only (the agent's role can write nothing but
 * its own checkpoints, journal and refusals); every change goes through `propose`.
 */
export interface AgentContext {
  readonly agent: string;
  /** True while the event is processed again by a replay: side effects return their recorded results. */
  readonly replay: boolean;
  /** True when the replay asked to call side effects again (`accord replay --recompute`). */
  readonly recompute: boolean;
  /** Structured log lines bound with the agent, the event id and the correlation id. */
  readonly log: Logger;
  /** An entity's current state and version (undefined when it does not exist yet). */
  state(
    entityType: string,
    entityId: string,
  ): Promise<{ version: number; state: Record<string, unknown> } | undefined>;
  /**
   * Feature values with their event time and staleness. A declared freshness objective is enforced: a
   * value staler than it (or missing) makes the agent refuse to decide on this event (recorded in
   * agent_refusals, logged), instead of deciding on stale data.
   */
  readonly features: {
    get(entityType: string, entityId: string, names: string[]): Promise<Record<string, FeatureResult>>;
  };
  /** The entity's events, from the archive (oldest first). */
  history(
    entityType: string,
    entityId: string,
    query?: Omit<HistoryQuery, 'entityType' | 'entityId'>,
  ): Promise<HistoryEvent[]>;
  readonly contracts: {
    /** Evaluates a pinned contract (`available_item@2`) on an input. */
    evaluate(ref: string, input: Record<string, unknown>): Promise<unknown>;
  };
  /**
   * Proposes a change to the entity's owner. The triggering event is the causation and its correlation id
   * (or its id) the correlation, automatically; a redelivered event re-sends the same proposal (same
   * idempotency key), which the owner decides once.
   */
  propose(
    entityType: string,
    entityId: string,
    action: string,
    change: Record<string, unknown>,
    options?: ProposeOptions,
  ): Promise<ProposalRef>;
  /** Resolves when the owner decided (pushed, not polled); DECISION_TIMEOUT (retriable) after timeoutMs. */
  decision(proposal: ProposalRef, options?: { timeoutMs?: number }): Promise<OwnerDecision>;
  /** Publishes the agent's own event (validated like any event), caused by the one being handled. */
  emit(
    type: string,
    data: Record<string, unknown>,
    options: Omit<PublishOptions, 'causationId'>,
  ): Promise<PublishedRecord>;
  /** An external call journaled per (agent, event, name): made once, its result returned on replays. */
  sideEffect<T>(name: string, call: () => Promise<T> | T): Promise<T>;
}

export interface AgentDefinition {
  /** Lower-case name: its consumer group is agent-<name>, its Postgres role accord_agent_<name>. */
  name: string;
  /** Topics it consumes. */
  consumes: string[];
  /** What it reads: feature view names and pinned contracts; anything else is refused at run time. */
  reads?: { features?: string[]; contracts?: string[] };
  /** Entity types it may propose changes to. */
  proposes?: string[];
  /** Event types it may emit. */
  emits?: string[];
  /** Maximum staleness (ms) it accepts per feature: past it, it refuses to decide. */
  freshness?: Record<string, number>;
  /** Where a new agent starts: earliest (default) or latest. */
  from?: 'earliest' | 'latest';
  handle: (event: AgentEvent, ctx: AgentContext) => Promise<void> | void;
}
