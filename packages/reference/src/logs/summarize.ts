import { deterministicId } from '@accord/sdk';

/**
 * The summarizer's logic, pure: a window's parsed records folded per service, then one summary per
 * service. Two logics, so a replay can show changed logic: `levels` (counts per level, the most frequent
 * messages as written) and `templates` (the same counts; messages grouped into templates, numbers and ids
 * masked, the most severe first). A summary's id is derived from (service, window, logic): writing the
 * same window again with the same logic is a no-op, with another logic a new summary beside the old one.
 */
export const SUMMARY_LOGICS = ['levels', 'templates'] as const;
export type SummaryLogic = (typeof SUMMARY_LOGICS)[number];

const SEVERITY: Record<string, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, FATAL: 4 };

export interface FoldedRecord {
  service: string;
  level: string;
  message: string;
  loggedAt: number;
  /** The raw line's offset (one service's raw lines are one partition, in order); -1 when unknown. */
  sourceOffset: number;
}

export interface ServiceFold {
  lines: number;
  counts: Record<string, number>;
  /** message (or template) → [count, highest severity] */
  messages: Map<string, [number, number]>;
  lastSourceOffset: number;
  /** Re-published records (source offset at or below one already counted), left out and counted here. */
  duplicates: number;
  /** Records whose time fell in an earlier, closed window: checked against that window's summary at close. */
  late: FoldedRecord[];
}

/** A window's fold, per service. */
export interface WindowFold {
  services: Map<string, ServiceFold>;
  /** The window's start, from its first record (ms). */
  start: number | undefined;
}

export function newFold(): WindowFold {
  return { services: new Map(), start: undefined };
}

export function template(message: string): string {
  return message
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b/g, '<hex>')
    .replace(/\b[a-z]+-\d+\b/g, '<id>')
    .replace(/\d+/g, '<n>');
}

/**
 * Folds one record into the open window (windows of `sizeMs`, aligned to the epoch; the open window is
 * the first record's, as the pipeline opens it): a record of an earlier window is late. A record whose
 * source offset is at or below the highest already counted for its service is a re-delivery (the parser
 * re-published after a crash): counted in `duplicates`, not in the summary.
 */
export function fold(
  state: WindowFold,
  record: FoldedRecord,
  sizeMs: number,
  logic: SummaryLogic,
): WindowFold {
  state.start ??= Math.floor(record.loggedAt / sizeMs) * sizeMs;
  let s = state.services.get(record.service);
  if (!s) {
    s = { lines: 0, counts: {}, messages: new Map(), lastSourceOffset: -1, duplicates: 0, late: [] };
    state.services.set(record.service, s);
  }
  if (record.sourceOffset >= 0 && record.sourceOffset <= s.lastSourceOffset) {
    s.duplicates++;
    return state;
  }
  if (record.loggedAt < state.start) {
    s.late.push(record);
    return state;
  }
  count(s, record, logic);
  return state;
}

/** Counts a record into its service's fold (also used for late records found not to be duplicates). */
export function count(s: ServiceFold, record: FoldedRecord, logic: SummaryLogic): void {
  s.lines++;
  s.counts[record.level] = (s.counts[record.level] ?? 0) + 1;
  const key = logic === 'templates' ? template(record.message) : record.message;
  const seen = s.messages.get(key) ?? [0, 0];
  s.messages.set(key, [seen[0] + 1, Math.max(seen[1], SEVERITY[record.level] ?? 1)]);
  if (record.sourceOffset > s.lastSourceOffset) s.lastSourceOffset = record.sourceOffset;
}

export interface Summary {
  id: string;
  service: string;
  windowStart: number;
  windowEnd: number;
  logic: string;
  lines: number;
  countsByLevel: Record<string, number>;
  topMessages: string[];
  summary: string;
  lastSourceOffset: number;
}

export function summaryId(service: string, windowStart: number, logic: string): string {
  return deterministicId('log-summary', service, windowStart, logic);
}

/**
 * The deterministic summary of one service's window. `name` is the logic's name in the summary's identity
 * (default the logic; e.g. `templates+model` when a model writes the text).
 */
export function summarize(
  service: string,
  s: ServiceFold,
  window: { start: number; end: number },
  logic: SummaryLogic,
  name: string = logic,
): Summary {
  const ranked = [...s.messages.entries()].sort((a, b) =>
    logic === 'templates'
      ? b[1][1] - a[1][1] || b[1][0] - a[1][0] || a[0].localeCompare(b[0])
      : b[1][0] - a[1][0] || a[0].localeCompare(b[0]),
  );
  const topMessages = ranked.slice(0, 3).map(([m, [n]]) => `${m} (×${n})`);
  const errors = (s.counts.ERROR ?? 0) + (s.counts.FATAL ?? 0);
  const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
  const summary =
    `${service} ${hhmm(window.start)}–${hhmm(window.end)}: ${s.lines} line(s), ${errors} error(s), ` +
    `${s.counts.WARN ?? 0} warning(s)${topMessages[0] ? `; top: ${topMessages[0]}` : ''}`;
  return {
    id: summaryId(service, window.start, name),
    service,
    windowStart: window.start,
    windowEnd: window.end,
    logic: name,
    lines: s.lines,
    countsByLevel: { ...s.counts },
    topMessages,
    summary,
    lastSourceOffset: s.lastSourceOffset,
  };
}
