import type {
  AgentMinute,
  DecisionMinute,
  IncidentMinute,
  Lineage,
  LineageEvent,
  PartitionLag,
} from '@accord/sdk/ops';
import type { FleetRow } from '../agents/fleet';
import { brief, html, jsonScript, type Raw, tableOf } from './html';

/** One chart: a canvas drawn by /assets/console.js from its JSON block. */
export interface ChartSpec {
  type: 'line' | 'bar';
  unit: string;
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
  objective?: number;
  stacked?: boolean;
}

export function chart(id: string, title: string, spec: ChartSpec): Raw {
  return html`<div class="chart"><h3>${title}</h3><div><canvas data-chart="${id}" aria-label="${title}"></canvas></div>${jsonScript(id, spec)}</div>`;
}

const minuteLabel = (d: Date) => new Date(d).toISOString().slice(11, 16);
const round = (n: number | null | undefined, digits = 1) =>
  n === null || n === undefined || !Number.isFinite(n) ? null : Number(n.toFixed(digits));

/** The coordination metrics over time, per minute: what the overview charts. */
export function metricCharts(
  decisions: DecisionMinute[],
  agents: AgentMinute[],
  lag: PartitionLag[],
  incidents: IncidentMinute[] = [],
): Raw {
  const minutes = [
    ...new Set([...decisions, ...agents, ...incidents].map((m) => minuteLabel(m.minute))),
  ].sort();
  const kinds = [...new Set(incidents.map((i) => i.kind))].sort();
  const sumAt = (label: string, f: (d: DecisionMinute) => number) =>
    decisions.filter((d) => minuteLabel(d.minute) === label).reduce((n, d) => n + f(d), 0);
  const agentNames = [...new Set(agents.map((a) => a.agent))].sort();
  const perAgent = (f: (a: AgentMinute) => number | null) =>
    agentNames.map((agent) => ({
      label: agent,
      data: minutes.map((label) => {
        const row = agents.find((a) => a.agent === agent && minuteLabel(a.minute) === label);
        return row ? round(f(row)) : null;
      }),
    }));
  const entityTypes = [...new Set(decisions.map((d) => d.entityType))].sort();
  const groups = new Map<string, number>();
  for (const l of lag) groups.set(l.group, (groups.get(l.group) ?? 0) + l.lag);
  return html`<div class="charts">
${chart('decisions', 'Decisions per minute, by outcome', {
  type: 'bar',
  unit: 'decisions',
  stacked: true,
  labels: minutes,
  datasets: [
    { label: 'accepted', data: minutes.map((m) => sumAt(m, (d) => d.accepted)) },
    { label: 'rejected', data: minutes.map((m) => sumAt(m, (d) => d.rejected)) },
    { label: 'escalated', data: minutes.map((m) => sumAt(m, (d) => d.escalated)) },
  ],
})}
${chart('conflict-rate', 'Conflict rate (objective < 1%)', {
  type: 'line',
  unit: '%',
  labels: minutes,
  objective: 1,
  datasets: entityTypes.map((e) => ({
    label: e,
    data: minutes.map((label) => {
      const row = decisions.find((d) => d.entityType === e && minuteLabel(d.minute) === label);
      const total = row ? row.accepted + row.rejected + row.escalated : 0;
      return row && total ? round((100 * row.conflicts) / total, 2) : null;
    }),
  })),
})}
${chart('decision-latency', 'Agent decision latency p95 (objective < 200 ms)', {
  type: 'line',
  unit: 'ms',
  labels: minutes,
  objective: 200,
  datasets: perAgent((a) => a.p95LatencyMs),
})}
${chart('staleness', 'Context staleness at decision time p95 (objective < 50 ms)', {
  type: 'line',
  unit: 'ms',
  labels: minutes,
  objective: 50,
  datasets: perAgent((a) => a.p95StalenessMs),
})}
${chart('rollbacks', 'Compensations and escalations per minute', {
  type: 'bar',
  unit: 'decisions',
  labels: minutes,
  datasets: [
    { label: 'compensations', data: minutes.map((m) => sumAt(m, (d) => d.compensations)) },
    { label: 'escalations', data: minutes.map((m) => sumAt(m, (d) => d.escalated)) },
  ],
})}
${chart('incidents', 'Checkpoint incidents per minute (gaps, identity changes)', {
  type: 'bar',
  unit: 'incidents',
  stacked: true,
  labels: minutes,
  datasets: kinds.map((kind) => ({
    label: kind,
    data: minutes.map((label) =>
      incidents
        .filter((i) => i.kind === kind && minuteLabel(i.minute) === label)
        .reduce((n, i) => n + i.incidents, 0),
    ),
  })),
})}
${chart('lag', 'Lag per consumer group (records)', {
  type: 'bar',
  unit: 'records',
  labels: [...groups.keys()],
  datasets: [{ label: 'lag', data: [...groups.values()] }],
})}
</div>`;
}

/** The last hour's figures against the article's objectives. */
export function objectives(decisions: DecisionMinute[], agents: AgentMinute[]): Raw {
  const total = decisions.reduce((n, d) => n + d.accepted + d.rejected + d.escalated, 0);
  const conflicts = decisions.reduce((n, d) => n + d.conflicts, 0);
  const worst = (f: (a: AgentMinute) => number | null) =>
    agents.reduce<number | null>((m, a) => {
      const v = f(a);
      return v === null ? m : Math.max(m ?? 0, v);
    }, null);
  const latency = worst((a) => a.p95LatencyMs);
  const staleness = worst((a) => a.p95StalenessMs);
  const rate = total ? (100 * conflicts) / total : null;
  const kpi = (label: string, value: number | null, unit: string, objective: number) =>
    html`<div class="kpi">${label}<b class="${value === null ? '' : value < objective ? 'ok' : 'bad'}">${
      value === null ? '–' : `${round(value, 2)} ${unit}`
    }</b>objective &lt; ${objective} ${unit}</div>`;
  return html`<div class="kpis">
${kpi('Worst p95 decision latency', latency, 'ms', 200)}
${kpi('Worst p95 context staleness', staleness, 'ms', 50)}
${kpi('Conflict rate', rate, '%', 1)}
<div class="kpi">Decisions<b>${total}</b>in the last hour</div></div>`;
}

export function fleetTable(rows: FleetRow[]): Raw {
  return tableOf(
    ['agent', 'version', 'status', 'replicas', 'ready', 'restarts', 'lag', 'last decision'],
    rows.map(
      (r) =>
        html`<tr><td>${r.agent}</td><td>${r.version ?? '-'}</td><td>${
          r.paused ? `PAUSED (${r.pausedReason ?? ''})` : r.status
        }</td><td>${r.replicas.running}/${r.replicas.desired}</td><td>${r.replicas.ready}</td><td>${r.restarts}</td><td>${r.lag}</td><td>${
          r.lastDecision
            ? `${r.lastDecision.outcome} ${r.lastDecision.entityType} ${r.lastDecision.entityId} ${new Date(r.lastDecision.decidedAt).toISOString()}`
            : '-'
        }</td></tr>`,
    ),
  );
}

const eventRow = (e: LineageEvent) =>
  html`<tr><td class="mono">${e.eventType}</td><td class="mono"><a href="/trace/${encodeURIComponent(e.eventId)}">${e.eventId}</a></td><td>${e.entityType ?? ''} ${e.entityId ?? ''}</td><td>${e.producer ?? ''}</td><td>${e.occurredAt}</td><td class="mono">${e.topic ? `${e.topic}[${e.partition}]@${e.offset}` : ''}</td><td class="mono">${brief(e.payload, 100)}</td></tr>`;
const EVENT_HEADERS = ['type', 'event id', 'entity', 'producer', 'occurred', 'where', 'data'];

/** The lineage view: the same chain as `accord trace`. */
export function lineageView(l: Lineage): Raw {
  const trigger = !l.trigger
    ? html`<p>none recorded (the proposal names no causing event)</p>`
    : 'archived' in l.trigger
      ? html`<p class="mono">${l.trigger.eventId} (not in the event archive)</p>`
      : tableOf(EVENT_HEADERS, [eventRow(l.trigger)]);
  return html`<p>Lineage of ${l.found} <code>${l.id}</code>${
    l.traceIds.length ? html` · trace <code>${l.traceIds.join(', ')}</code>` : ''
  }</p>
<section class="step" id="trigger"><h2>Triggering event</h2>${trigger}</section>
${l.agents.map(
  (a) => html`<section class="step agent"><h2>Agent ${a.agent}: ${a.outcome}${
    a.latencyMs !== null ? ` in ${Math.round(a.latencyMs)} ms` : ''
  }</h2>${a.error ? html`<p class="error">${a.error}</p>` : ''}
${tableOf(
  ['feature', 'entity', 'value', 'staleness (ms)'],
  a.reads.map(
    (r) =>
      html`<tr><td>${r.feature}</td><td>${r.entityType} ${r.entityId}</td><td class="mono">${
        r.missing ? `missing (${r.missing})` : brief(r.value, 60)
      }</td><td>${r.stalenessMs ?? '-'}</td></tr>`,
  ),
)}
${
  a.contracts.length
    ? tableOf(
        ['contract', 'result'],
        a.contracts.map((c) => html`<tr><td>${c.ref}</td><td class="mono">${brief(c.result)}</td></tr>`),
      )
    : ''
}
${
  a.sideEffects.length
    ? tableOf(
        ['side effect', 'calls', 'result'],
        a.sideEffects.map(
          (s) => html`<tr><td>${s.name}</td><td>${s.calls}</td><td class="mono">${brief(s.result)}</td></tr>`,
        ),
      )
    : ''
}
${a.refusals.map((r) => html`<p class="error">refused: ${r.feature}: ${r.reason}</p>`)}
</section>`,
)}
<section class="step" id="proposals"><h2>Proposals and decisions</h2>${tableOf(
    ['proposal', 'agent', 'change', 'decision', 'outcome', 'rule', 'versions'],
    l.proposals.map(
      (p) =>
        html`<tr><td class="mono">${p.proposalId}</td><td>${p.agent}</td><td class="mono">${p.action} ${p.entityType} ${p.entityId} ${brief(p.change, 60)}</td><td class="mono">${
          p.decision?.decisionId ?? 'not decided yet'
        }</td><td class="outcome">${p.decision?.outcome ?? ''}${
          p.decision?.escalation
            ? ` (escalation #${p.decision.escalation.id}: ${p.decision.escalation.status})`
            : ''
        }</td><td>${p.decision?.reason ?? ''}</td><td>${
          p.decision
            ? p.decision.versionAfter !== null
              ? `v${p.decision.versionBefore} → v${p.decision.versionAfter}`
              : `stays v${p.decision.versionBefore}${p.decision.conflictingVersion !== null ? ` (conflict: expected v${p.expectedVersion})` : ''}`
            : ''
        }</td></tr>`,
    ),
  )}</section>
<section class="step" id="followed"><h2>Followed by</h2>${tableOf(EVENT_HEADERS, l.followed.map(eventRow))}</section>`;
}
