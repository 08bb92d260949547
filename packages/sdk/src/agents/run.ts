import type { SomeAccord } from '../accord';
import { describeError } from '../errors';
import type { FeatureResult } from '../features/store';
import { currentTraceId } from '../telemetry/tracing';
import type { LineageRow, LineageWriter } from './lineage-writer';
import type { AgentEvent } from './types';

export interface FeatureRead {
  entityType: string;
  entityId: string;
  feature: string;
  /** null when the value was missing. */
  stalenessMs: number | null;
  value?: unknown;
  missing?: string;
}

/**
 * What one agent did with one event, for decision lineage (`accord trace`) and the metrics: the features
 * it read and how stale they were, the contracts it evaluated, the proposals it sent, the events it
 * emitted. Recorded in agent_runs when the handling ends, whatever its outcome.
 */
export class AgentRun {
  outcome: 'proposed' | 'idle' | 'refused' | 'failed' = 'idle';
  error: unknown;
  readonly reads: FeatureRead[] = [];
  readonly contracts: { ref: string; result: unknown }[] = [];
  readonly proposals: { proposalId: string; entityType: string; entityId: string; action: string }[] = [];
  readonly emitted: { eventId: string; type: string; topic: string }[] = [];
  private readonly traceId = currentTraceId();

  constructor(
    readonly agent: string,
    readonly event: AgentEvent,
  ) {}

  /** Notes a feature read; returns the stalest value's staleness (null if none had one). */
  read(entityType: string, entityId: string, values: Record<string, FeatureResult>): number | null {
    let stalest: number | null = null;
    for (const [feature, v] of Object.entries(values)) {
      if ('missing' in v) {
        this.reads.push({ entityType, entityId, feature, stalenessMs: null, missing: String(v.reason) });
        continue;
      }
      this.reads.push({ entityType, entityId, feature, stalenessMs: v.staleness, value: v.value });
      stalest = Math.max(stalest ?? 0, v.staleness);
    }
    return stalest;
  }

  /** The stalest value read (ms): the agent's context staleness at decision time. */
  get stalenessMs(): number | null {
    const known = this.reads.map((r) => r.stalenessMs).filter((s): s is number => s !== null);
    return known.length ? Math.max(...known) : null;
  }

  /**
   * Writes the row (a redelivery or replay rewrites it) and tells the seam. A failure to record is logged,
   * never thrown: lineage must not turn a handled event into a retried one.
   */
  async record(lineage: LineageWriter, accord: SomeAccord, replay: boolean): Promise<void> {
    const e = this.event;
    const latencyMs = Math.max(0, Date.now() - Number(e.timestamp));
    // An event the agent looked at and let pass (read nothing, did nothing) leaves no lineage row: most of
    // a busy topic is that, and the row would cost a write per event. It is still measured below.
    const noop =
      this.outcome === 'idle' && !this.reads.length && !this.contracts.length && !this.emitted.length;
    if (!noop) await lineage.write(this.row(latencyMs));
    // A replayed event's latency is its age, not a decision latency: only live handling is measured.
    if (!replay && accord.telemetry.listening)
      accord.telemetry.emit({
        type: 'agent.handled',
        agent: this.agent,
        eventId: e.eventId,
        outcome: this.outcome,
        latencyMs,
        stalenessMs: this.stalenessMs,
        proposals: this.proposals.length,
      });
  }

  /** The agent_runs row (a redelivery or replay rewrites it: the latest handling is the one that counts). */
  private row(latencyMs: number): LineageRow {
    const e = this.event;
    return {
      agent: this.agent,
      event_id: e.eventId,
      event_type: e.type,
      entity_type: e.entityType,
      entity_id: e.entityId,
      topic: e.topic,
      partition: e.partition,
      kafka_offset: e.offset,
      correlation_id: e.correlationId ?? e.eventId,
      trace_id: this.traceId,
      outcome: this.outcome,
      reads: this.reads,
      contracts: this.contracts,
      proposals: this.proposals,
      emitted: this.emitted,
      error: this.error === undefined ? null : describeError(this.error),
      latency_ms: latencyMs,
    };
  }
}
