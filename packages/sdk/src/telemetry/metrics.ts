import { type Meter, metrics } from '@opentelemetry/api';
import type { LifecycleEvent, Telemetry } from './seam';

/** Histogram buckets (ms) around the article's objectives: decisions p95 < 200 ms, staleness < 50 ms. */
const MS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 200, 500, 1000, 2500, 5000, 10000, 30000];

const metered = new WeakSet<object>();

/**
 * The coordination metrics, as OpenTelemetry instruments fed by the telemetry seam's lifecycle events.
 * The meter is the global one (a no-op until otel.ts registers a MeterProvider), read once here: start
 * OpenTelemetry before making the context. Names are OTel's (dots); Prometheus shows them with `_`.
 */
export function meterTelemetry(telemetry: Telemetry, meter: Meter = metrics.getMeter('accord')): void {
  if (metered.has(telemetry)) return;
  metered.add(telemetry);
  const ms = { unit: 'ms', advice: { explicitBucketBoundaries: MS_BUCKETS } };
  const decisionLatency = meter.createHistogram('accord.agent.decision.latency', {
    ...ms,
    description:
      "From the triggering event's append to the end of the agent's handling (objective p95 < 200 ms)",
  });
  const staleness = meter.createHistogram('accord.agent.context.staleness', {
    ...ms,
    description: 'Staleness of the stalest feature an agent read, at decision time (objective < 50 ms)',
  });
  const agentEvents = meter.createCounter('accord.agent.events', {
    description: 'Events agents handled, by outcome (proposed, idle, refused, failed)',
  });
  const ownerLatency = meter.createHistogram('accord.owner.decision.latency', {
    ...ms,
    description: "From a proposal's creation to its decision's commit",
  });
  const decisions = meter.createCounter('accord.decisions', { description: 'Owner decisions, by outcome' });
  const conflicts = meter.createCounter('accord.conflicts', {
    description: 'Decisions on a proposal that expected a version the entity had left',
  });
  const compensations = meter.createCounter('accord.compensations', {
    description: 'Accepted compensations (rollbacks of an earlier decision)',
  });
  const escalations = meter.createCounter('accord.escalations', {
    description: 'Proposals escalated to a person',
  });
  const deadLetters = meter.createCounter('accord.dead_letters', {
    description: 'Events sent to a dead-letter topic',
  });
  const incidents = meter.createCounter('accord.checkpoint.incidents', {
    description: 'Checkpoint gaps and identity changes met (out-of-range, identity-changed, bound)',
  });
  const fenced = meter.createCounter('accord.fenced_commits', {
    description: 'Chunks refused because this instance lost the partition (its effects rolled back)',
  });
  const crashes = meter.createCounter('accord.consumer.crashes', {
    description: 'Consumer restarts after a failure',
  });
  const handled = meter.createHistogram('accord.handle.duration', {
    ...ms,
    description: 'One attempt at one event, by outcome (ok, retry, dead-letter)',
  });
  const freshness = meter.createHistogram('accord.feature.freshness', {
    ...ms,
    description: 'Feature updates: appended to Kafka → visible in Redis',
  });
  const readStaleness = meter.createHistogram('accord.feature.read.staleness', {
    ...ms,
    description: 'Staleness of feature values as read',
  });
  // Gauges: the last value seen per key, observed at each collection.
  const lag = new Map<string, { group: string; topic: string; partition: number; lag: number }>();
  const stuck = new Map<string, Set<string>>();
  const rates = new Map<string, { decided: number; conflicts: number }>();
  meter
    .createObservableGauge('accord.consumer.lag', {
      description: 'Records behind the high watermark, per partition',
    })
    .addCallback((result) => {
      for (const l of lag.values())
        result.observe(l.lag, { group: l.group, topic: l.topic, partition: l.partition });
    });
  meter
    .createObservableGauge('accord.pipeline.stuck_partitions', {
      description: 'Partitions a pipeline halted on (an incident waiting for an operator)',
    })
    .addCallback((result) => {
      for (const [group, partitions] of stuck) result.observe(partitions.size, { group });
    });
  meter
    .createObservableGauge('accord.conflict.rate', {
      description: 'Conflicts per decision since the process started (objective < 1%)',
    })
    .addCallback((result) => {
      for (const [entityType, r] of rates)
        if (r.decided > 0) result.observe(r.conflicts / r.decided, { entity_type: entityType });
    });

  telemetry.on((e: LifecycleEvent) => {
    switch (e.type) {
      case 'agent.handled':
        agentEvents.add(1, { agent: e.agent, outcome: e.outcome });
        if (e.outcome !== 'failed') decisionLatency.record(e.latencyMs, { agent: e.agent });
        if (e.stalenessMs !== null) staleness.record(e.stalenessMs, { agent: e.agent });
        break;
      case 'decided': {
        const labels = { entity_type: e.entityType };
        decisions.add(1, { ...labels, outcome: e.outcome });
        ownerLatency.record(e.latencyMs, labels);
        const rate = rates.get(e.entityType) ?? { decided: 0, conflicts: 0 };
        rate.decided++;
        if (e.conflicting) {
          rate.conflicts++;
          conflicts.add(1, labels);
        }
        rates.set(e.entityType, rate);
        if (e.compensates) compensations.add(1, labels);
        if (e.outcome === 'ESCALATED') escalations.add(1, labels);
        break;
      }
      case 'attempt.end':
        handled.record(e.durationMs, { group: e.group, outcome: e.outcome });
        break;
      case 'dead-lettered':
        deadLetters.add(1, { group: e.group, topic: e.topic, error_code: e.errorCode });
        break;
      case 'incident': {
        const i = e.incident;
        incidents.add(1, { group: i.group, kind: i.kind, action: i.action });
        if (i.action === 'halted') {
          const partitions = stuck.get(i.group) ?? new Set<string>();
          partitions.add(`${i.topic}:${i.partition}`);
          stuck.set(i.group, partitions);
        }
        break;
      }
      case 'checkpointed':
        // A partition that moves again is no longer stuck.
        stuck.get(e.group)?.delete(`${e.topic}:${e.partition}`);
        break;
      case 'fenced':
        fenced.add(1, { group: e.group });
        break;
      case 'consumer.crashed':
        crashes.add(1, { group: e.group });
        break;
      case 'lag':
        lag.set(`${e.group}\u0000${e.topic}\u0000${e.partition}`, e);
        break;
      case 'features.written':
        for (const v of e.endToEndMs) freshness.record(v, { group: e.group });
        break;
      case 'features.read':
        for (const v of e.stalenessMs) readStaleness.record(v, { entity_type: e.entityType });
        break;
    }
  });
}
