import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { namespacedGroup, type SqlPool } from '@accord/sdk';
import type { Ops } from '@accord/sdk/ops';

/**
 * The log pipeline's part of the main job's report, recounted from Kafka's positions, the dead-letter
 * topic and the stages' tables (never from the stages' own claims): lines shipped, parsed and refused,
 * summaries per logic, anomalies against the sample's known incidents, and lag.
 */
export interface LogReport {
  shipped: number;
  parsed: number;
  deadLettered: number;
  /** Events the summarizer holds in open windows (they close when later lines arrive). */
  openWindowEvents: number;
  summaries: { logic: string; count: number; lines: number; duplicates: number; late: number }[];
  anomalies: {
    logic: string;
    service: string;
    from: string;
    to: string;
    windows: number;
    maxScore: number;
  }[];
  incidents: { service: string; start: string; end: string; found: boolean }[];
  falseAlarms: number;
  lag: { parser: number; detector: number };
}

export const LOG_GROUPS = () => ({
  parser: namespacedGroup('log-parser'),
  summarizer: namespacedGroup('log-summarizer'),
  detector: namespacedGroup('log-detector'),
});

/**
 * Waits until the parser and detector caught up, the summarizer stopped moving and every row was relayed.
 * Resolves with undefined when settled, else with what it was still waiting for (said to the operator).
 */
export async function settleLogs(ops: Ops, pool: SqlPool, timeoutMs: number): Promise<string | undefined> {
  const groups = LOG_GROUPS();
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let stableSince = Date.now();
  let pending = 'nothing measured yet';
  while (Date.now() < deadline) {
    const lag = await ops.lag();
    const of = (group: string) => lag.filter((l) => l.group === group).reduce((n, l) => n + l.lag, 0);
    // One round trip: what is still to relay, and how many summaries exist (the summarizer moving).
    const { rows } = await pool.query<{ n: number; summaries: number }>(
      `select (select count(*) from log_summaries where published_at is null)::int +
              (select count(*) from log_anomalies where published_at is null)::int as n,
              (select count(*) from log_summaries)::int as summaries`,
    );
    const seen = `${of(groups.summarizer)}/${rows[0]?.summaries}`;
    if (seen !== last) {
      last = seen;
      stableSince = Date.now();
    }
    if (
      of(groups.parser) === 0 &&
      of(groups.detector) === 0 &&
      rows[0]?.n === 0 &&
      Date.now() - stableSince > 3000
    )
      return undefined;
    pending =
      `parser lag ${of(groups.parser)}, detector lag ${of(groups.detector)}, summarizer lag ` +
      `${of(groups.summarizer)} (${rows[0]?.summaries} summaries, last change ${Math.round((Date.now() - stableSince) / 1000)} s ago), ` +
      `${rows[0]?.n} rows not yet relayed`;
    await new Promise((r) => setTimeout(r, 500));
  }
  return pending;
}

export async function measureLogs(ops: Ops, pool: SqlPool, sampleDir: string): Promise<LogReport> {
  const groups = LOG_GROUPS();
  const lag = await ops.lag();
  const rows = (group: string) => lag.filter((l) => l.group === group);
  const sum = (list: typeof lag, f: (l: (typeof lag)[number]) => number) =>
    list.reduce((n, l) => n + f(l), 0);
  const summaries = await pool.query<LogReport['summaries'][number]>(
    `select logic, count(*)::int as count, sum(lines)::int as lines, sum(duplicates)::int as duplicates,
            sum(late)::int as late
       from log_summaries group by logic order by min(created_at)`,
  );
  const minutes = await pool.query<{ logic: string; service: string; start: Date; score: number }>(
    'select logic, service, window_start as start, score from log_anomalies order by logic, service, window_start',
  );
  // Consecutive anomalous windows of a service are one episode.
  const anomalies: LogReport['anomalies'] = [];
  for (const m of minutes.rows) {
    const prev = anomalies[anomalies.length - 1];
    const end = m.start.getTime() + 60_000;
    if (
      prev &&
      prev.logic === m.logic &&
      prev.service === m.service &&
      Date.parse(prev.to) === m.start.getTime()
    ) {
      prev.to = new Date(end).toISOString();
      prev.windows++;
      prev.maxScore = Math.max(prev.maxScore, m.score);
    } else
      anomalies.push({
        logic: m.logic,
        service: m.service,
        from: m.start.toISOString(),
        to: new Date(end).toISOString(),
        windows: 1,
        maxScore: m.score,
      });
  }
  let known: { service: string; start: string; end: string }[] = [];
  try {
    known = JSON.parse(readFileSync(join(sampleDir, 'incidents.json'), 'utf8')).incidents;
  } catch {
    // A directory of real logs has no known incidents: the report shows what was found only.
  }
  const inside = (service: string, t: number) =>
    known.some((i) => i.service === service && t >= Date.parse(i.start) && t < Date.parse(i.end));
  const incidents = known.map((i) => ({
    ...i,
    found: minutes.rows.some(
      (m) =>
        m.service === i.service &&
        m.start.getTime() >= Date.parse(i.start) &&
        m.start.getTime() < Date.parse(i.end),
    ),
  }));
  const deadLettered = (await ops.deadLetters(groups.parser)).length;
  return {
    shipped: sum(rows(groups.parser), (l) => Number(l.logEnd)),
    parsed: sum(rows(groups.summarizer), (l) => Number(l.logEnd)),
    deadLettered,
    openWindowEvents: sum(rows(groups.summarizer), (l) => l.lag),
    summaries: summaries.rows,
    anomalies,
    incidents,
    falseAlarms: minutes.rows.filter((m) => !inside(m.service, m.start.getTime())).length,
    lag: {
      parser: sum(rows(groups.parser), (l) => l.lag),
      detector: sum(rows(groups.detector), (l) => l.lag),
    },
  };
}

export function formatLogReport(r: LogReport): string {
  const hhmm = (iso: string) => iso.slice(11, 16);
  const found = r.incidents.filter((i) => i.found).length;
  return [
    'Log pipeline (parse → summarize → detect)',
    `  Lines:      ${r.shipped} shipped, ${r.parsed} parsed, ${r.deadLettered} dead-lettered with their reason`,
    ...r.summaries.map(
      (s) =>
        `  Summaries:  ${s.count} (${s.logic}) over ${s.lines} line(s); ${s.duplicates} re-published line(s) left out, ${s.late} late`,
    ),
    `  Open:       ${r.openWindowEvents} line(s) in windows still open (windows close on event time)`,
    ...r.anomalies.map(
      (a) =>
        `  Anomaly:    ${a.service} ${hhmm(a.from)}–${hhmm(a.to)} (${a.windows} window(s), score up to ${a.maxScore.toFixed(1)}; ${a.logic})`,
    ),
    r.incidents.length > 0
      ? `  Incidents:  ${found}/${r.incidents.length} of the sample's incidents found; ${r.falseAlarms} false alarm(s) ${found === r.incidents.length && r.falseAlarms === 0 ? '✓' : '✗'}`
      : `  Incidents:  no known incidents for these logs; ${r.falseAlarms} window(s) flagged`,
    `  Lag:        parser ${r.lag.parser}, detector ${r.lag.detector}`,
  ].join('\n');
}
