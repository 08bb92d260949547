import type { SomeAccord } from '../accord';
import { describeError } from '../errors';
import type { FeatureResult } from '../features/store';
import type { SqlPool } from '../infra/sql';
import { currentTraceId } from '../telemetry/tracing';
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
  async record(pool: SqlPool, accord: SomeAccord, replay: boolean): Promise<void> {
    const e = this.event;
    const latencyMs = Math.max(0, Date.now() - Number(e.timestamp));
    // An event the agent looked at and let pass (read nothing, did nothing) leaves no lineage row: most of
    // a busy topic is that, and the row would cost a write per event. It is still measured below.
    const noop =
      this.outcome === 'idle' && !this.reads.length && !this.contracts.length && !this.emitted.length;
    if (!noop) await this.write(pool, accord, latencyMs);
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

  private async write(pool: SqlPool, accord: SomeAccord, latencyMs: number): Promise<void> {
    const e = this.event;
    try {
      await pool.query(
        `insert into agent_runs (agent, event_id, event_type, entity_type, entity_id, topic, partition, kafka_offset,
           correlation_id, trace_id, outcome, reads, contracts, proposals, emitted, error, latency_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         on conflict (agent, event_id) do update set outcome = excluded.outcome, reads = excluded.reads,
           contracts = excluded.contracts, proposals = excluded.proposals, emitted = excluded.emitted,
           error = excluded.error, latency_ms = excluded.latency_ms, trace_id = excluded.trace_id,
           handled_at = now()`,
        [
          this.agent,
          e.eventId,
          e.type,
          e.entityType,
          e.entityId,
          e.topic,
          e.partition,
          e.offset,
          e.correlationId ?? e.eventId,
          this.traceId,
          this.outcome,
          JSON.stringify(this.reads),
          JSON.stringify(this.contracts),
          JSON.stringify(this.proposals),
          JSON.stringify(this.emitted),
          this.error === undefined ? null : describeError(this.error),
          latencyMs,
        ],
      );
    } catch (error) {
      accord.logger.warn(
        { agent: this.agent, eventId: e.eventId, error: describeError(error) },
        'recording the agent run for lineage failed',
      );
    }
  }
}
