import type { SqlPool } from '@accord/sdk';
import type { AuditResult } from './auditor';

/**
 * The main job's report, recounted from the database after the run settled: events, decisions per agent,
 * decision latency and staleness at decision time per agent (p50/p95/p99, from agent_runs), conflict rate,
 * rollbacks (compensations), escalations, dead letters, lag, and the auditor's findings.
 */
export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface AgentFigures {
  agent: string;
  handled: number;
  refused: number;
  failed: number;
  decisions: { accepted: number; rejected: number; escalated: number };
  latencyMs: Percentiles;
  stalenessMs: Percentiles;
}

export interface Report {
  run: string;
  seed: number;
  rate: number;
  seconds: number;
  agents: AgentFigures[];
  decisions: {
    total: number;
    accepted: number;
    rejected: number;
    escalated: number;
    conflicts: number;
    conflictRate: number;
    compensations: number;
  };
  deadLetters: { group: string; count: number }[];
  lag: number;
  audit: AuditResult;
}

const ENTITY_TYPES = ['order', 'payment', 'stock_item', 'customer'];
const pct = (v: unknown): number | null =>
  v === null || v === undefined ? null : Math.round(Number(v) * 10) / 10;

export async function measure(
  pool: SqlPool,
  run: { run: string; seed: number; rate: number; seconds: number },
  extra: { deadLetters: { group: string; count: number }[]; lag: number; audit: AuditResult },
): Promise<Report> {
  const like = `${run.run}-%`;
  const { rows: runs } = await pool.query<{
    agent: string;
    handled: number;
    refused: number;
    failed: number;
    lat: (number | null)[] | null;
    stale: (number | null)[] | null;
  }>(
    `with r as (
       select agent, outcome, latency_ms,
              (select max((x->>'stalenessMs')::double precision) from jsonb_array_elements(reads) x) as staleness
         from agent_runs where entity_id like $1)
     select agent, count(*)::int as handled,
            count(*) filter (where outcome = 'refused')::int as refused,
            count(*) filter (where outcome = 'failed')::int as failed,
            percentile_cont(array[0.5, 0.95, 0.99]) within group (order by latency_ms) filter (where outcome <> 'failed') as lat,
            percentile_cont(array[0.5, 0.95, 0.99]) within group (order by staleness) as stale
       from r group by agent order by agent`,
    [like],
  );
  const decided = new Map<string, AgentFigures['decisions']>();
  const totals = {
    total: 0,
    accepted: 0,
    rejected: 0,
    escalated: 0,
    conflicts: 0,
    conflictRate: 0,
    compensations: 0,
  };
  for (const e of ENTITY_TYPES) {
    const { rows } = await pool.query<{
      agent: string;
      outcome: string;
      n: number;
      conflicts: number;
      compensations: number;
    }>(
      `select agent, outcome, count(*)::int as n,
              count(*) filter (where conflicting_version is not null)::int as conflicts,
              count(*) filter (where reason like 'compensates decision %')::int as compensations
         from ${e}_decisions where entity_id like $1 group by 1, 2`,
      [like],
    );
    for (const r of rows) {
      const d = decided.get(r.agent) ?? { accepted: 0, rejected: 0, escalated: 0 };
      const key = r.outcome.toLowerCase() as keyof AgentFigures['decisions'];
      d[key] += r.n;
      decided.set(r.agent, d);
      totals.total += r.n;
      totals[key] += r.n;
      totals.conflicts += r.conflicts;
      totals.compensations += r.compensations;
    }
  }
  totals.conflictRate = totals.total ? totals.conflicts / totals.total : 0;
  const agents: AgentFigures[] = runs.map((r) => ({
    agent: r.agent,
    handled: r.handled,
    refused: r.refused,
    failed: r.failed,
    decisions: decided.get(r.agent) ?? { accepted: 0, rejected: 0, escalated: 0 },
    latencyMs: { p50: pct(r.lat?.[0]), p95: pct(r.lat?.[1]), p99: pct(r.lat?.[2]) },
    stalenessMs: { p50: pct(r.stale?.[0]), p95: pct(r.stale?.[1]), p99: pct(r.stale?.[2]) },
  }));
  return { ...run, agents, decisions: totals, ...extra };
}

const cell = (v: number | null) => (v === null ? '-' : String(v));

function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

const AGENT_HEADERS = [
  'agent',
  'acted on',
  'accepted',
  'rejected',
  'escalated',
  'refused',
  'failed',
  'latency p50/p95/p99 ms',
  'staleness p50/p95/p99 ms',
];
const agentRow = (a: AgentFigures) => [
  a.agent,
  String(a.handled),
  String(a.decisions.accepted),
  String(a.decisions.rejected),
  String(a.decisions.escalated),
  String(a.refused),
  String(a.failed),
  `${cell(a.latencyMs.p50)} / ${cell(a.latencyMs.p95)} / ${cell(a.latencyMs.p99)}`,
  `${cell(a.stalenessMs.p50)} / ${cell(a.stalenessMs.p95)} / ${cell(a.stalenessMs.p99)}`,
];

const KIND_LABEL = {
  'discount-on-out-of-stock': 'a discount on an item going out of stock',
  'blocked-and-shipped': 'a block on an order already shipping',
  'refund-promise-unpaid': 'a refund promise billing must honour',
} as const;

export function formatReport(r: Report): string {
  const d = r.decisions;
  const a = r.audit;
  const lines = [
    `Accord main job: run ${r.run} (seed ${r.seed}, ${r.rate} steps/s for ${r.seconds} s)`,
    '',
    `Events: ${a.events.published} published, ${a.events.archived} archived${a.events.published === a.events.archived ? '' : '  (NOT ALL ARCHIVED)'}`,
    `Decisions: ${d.total} (${d.accepted} accepted, ${d.rejected} rejected, ${d.escalated} escalated)`,
    `Conflict rate: ${(100 * d.conflictRate).toFixed(2)}% (${d.conflicts} conflicts; objective < 1%)`,
    `Rollbacks (compensations): ${d.compensations}   Escalations: ${d.escalated}`,
    `Dead letters: ${r.deadLetters.reduce((n, x) => n + x.count, 0)}${r.deadLetters
      .filter((x) => x.count)
      .map((x) => `  ${x.group}: ${x.count}`)
      .join('')}   Lag: ${r.lag}`,
    '',
    'Per agent (events it acted on: read features, proposed or emitted; decision latency: triggering event',
    'appended → end of handling, queueing included; staleness: the stalest feature it read):',
    ...table(AGENT_HEADERS, r.agents.map(agentRow)).map((l) => `  ${l}`),
    '',
    'Contradictions the traffic provoked, and how the owners handled them (refused, escalated or compensated):',
    ...Object.entries(a.provoked).map(
      ([kind, p]) =>
        `  ${KIND_LABEL[kind as keyof typeof KIND_LABEL]}: ${p.provoked} provoked, ${p.handled} handled${p.examples.length ? ` (e.g. ${p.examples.join(', ')})` : ''}`,
    ),
    '',
    `Independent auditor: ${a.contradictions.length} contradictory customer-facing action(s)${a.contradictions.length ? '' : ' ✓'}`,
    ...a.contradictions.slice(0, 20).map((c) => `  ${c.kind} ${c.orderId}: ${c.detail}`),
  ];
  return lines.join('\n');
}

const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** The same report as a standalone HTML page (every value escaped). */
export function reportHtml(r: Report): string {
  const rows = (headers: string[], body: string[][]) =>
    `<table><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${body
      .map((b) => `<tr>${b.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
      .join('')}</table>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Accord main job ${esc(r.run)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#111827}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .6rem;text-align:left}th{background:#f3f4f6}pre{background:#f9fafb;padding:1rem}</style>
</head><body><h1>Accord main job: run ${esc(r.run)}</h1>
<pre>${esc(formatReport(r))}</pre>
<h2>Per agent</h2>${rows(AGENT_HEADERS, r.agents.map(agentRow))}
<h2>Contradictions</h2>${rows(
    ['kind', 'provoked', 'handled', 'examples'],
    Object.entries(r.audit.provoked).map(([k, p]) => [
      k,
      String(p.provoked),
      String(p.handled),
      p.examples.join(', '),
    ]),
  )}
${rows(
  ['kind', 'order', 'detail'],
  r.audit.contradictions.map((c) => [c.kind, c.orderId, c.detail]),
)}
</body></html>`;
}
