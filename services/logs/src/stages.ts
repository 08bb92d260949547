import {
  count,
  detect,
  fold,
  type LogAnomaly,
  LogLineError,
  type LogSummary,
  newFold,
  type ParsedLogRecord,
  parseLogLine,
  type RawLogLine,
  referenceCatalog,
  type Summary,
  type SummaryLogic,
  summarize,
} from '@accord/reference';
import {
  type ChatClient,
  type ClosedWindow,
  defineWindow,
  deterministicId,
  namespacedGroup,
  type PublishItem,
  type RunningService,
  type ServiceContext,
  type SqlClient,
  TerminalError,
  type WindowContext,
} from '@accord/sdk';
import { startTableRelay } from './outbox';

/**
 * The three stages of the log pipeline, each its own consumer group with its own checkpoints:
 * parse (raw lines → parsed records; at least once, deterministic ids), summarize (a transactional
 * windowed pipeline: a window's summaries commit with its checkpoint, the table is the outbox) and detect
 * (transactional: the baseline and the anomalies commit with the checkpoint, the table is the outbox).
 */
const topic = (entityType: string) => referenceCatalog.eventsTopic(entityType);
type Item = PublishItem<never>;

export async function startParser(
  { accord, log }: ServiceContext<Record<string, unknown>>,
  group: string | undefined,
): Promise<RunningService> {
  const publisher = accord.publisher({ producer: 'log-parser' });
  let buffered: Item[] = [];
  let parsed = 0;
  const pipeline = accord.pipeline({
    name: 'log-parser',
    group: group ?? namespacedGroup('log-parser'),
    topics: [topic('raw_log')],
    handler: (event) => {
      const raw = event.value as unknown as RawLogLine;
      let line: ReturnType<typeof parseLogLine>;
      try {
        line = parseLogLine(raw.line);
      } catch (error) {
        if (!(error instanceof LogLineError)) throw error;
        // Dead-lettered now (no retry can fix a line), with where it is and what is wrong.
        throw new TerminalError(
          `${raw.service} line at ${event.topic}[${event.partition}]@${event.offset}: ${error.message}`,
        );
      }
      buffered.push({
        type: 'accord.logs.ParsedLogRecord',
        data: {
          service: raw.service,
          level: line.level,
          message: line.message,
          loggedAt: line.loggedAt,
          attributes: { ...line.attributes, host: raw.host },
          sourceOffset: Number(event.offset),
        } satisfies Omit<ParsedLogRecord, 'envelope'>,
        options: {
          entityId: raw.service,
          // The same raw line always gives the same record: a re-publish after a crash is recognisable.
          eventId: deterministicId('parsed-log', raw.envelope.eventId),
          occurredAt: line.loggedAt,
          causationId: raw.envelope.eventId,
        },
      } as Item);
    },
    // One publishMany per chunk, before the chunk's checkpoint moves.
    afterChunk: async () => {
      const items = buffered;
      buffered = [];
      if (items.length > 0) await publisher.publishMany(items);
      parsed += items.length;
    },
  });
  await pipeline.start();
  return {
    running: { stage: 'parse', group: pipeline.group },
    async stop() {
      await pipeline.stop();
      log.info({ parsed, deadLettered: pipeline.stats.deadLettered }, 'parser stopped');
      return { parsed };
    },
  };
}

export interface SummarizerOptions {
  group?: string;
  logic: SummaryLogic;
  windowMs: number;
  /** A model that writes each summary's one-line text (journaled per window with ctx.sideEffect). */
  model?: ChatClient;
}

export async function startSummarizer(
  { accord, pool, log }: ServiceContext<Record<string, unknown>>,
  options: SummarizerOptions,
): Promise<RunningService> {
  const { logic, windowMs, model } = options;
  // The logic's name is part of each summary's identity: a model's text makes it another logic.
  const logicName = model ? `${logic}+model` : logic;
  let written = 0;
  let duplicates = 0;
  const closeWindow = async (window: ClosedWindow<ReturnType<typeof newFold>>, ctx: WindowContext) => {
    const tx = ctx.tx as SqlClient;
    for (const [service, s] of [...window.state.services].sort(([a], [b]) => a.localeCompare(b))) {
      let late = 0;
      let dup = 0;
      for (const r of s.late) {
        // A late line is a re-publish of one already summarized in its own window, or really late.
        const { rows } = await tx.query<{ last: string | null }>(
          'select max(last_source_offset)::text as last from log_summaries where service = $1 and window_start = $2',
          [service, new Date(Math.floor(r.loggedAt / windowMs) * windowMs)],
        );
        if (r.sourceOffset >= 0 && rows[0]?.last != null && r.sourceOffset <= Number(rows[0].last)) dup++;
        else {
          count(s, r, logic);
          late++;
        }
      }
      dup += s.duplicates;
      duplicates += dup;
      if (dup > 0)
        log.warn(
          { service, window: window.start, duplicates: dup },
          're-published lines left out of the summary',
        );
      if (s.lines === 0) continue;
      const summary: Summary = summarize(service, s, window, logic, logicName);
      if (model)
        summary.summary = await ctx.sideEffect(`summary:${service}:${logicName}`, async () => {
          const answer = await model.complete([
            { role: 'system', content: "Summarize one service's logs over one window in one line." },
            {
              role: 'user',
              content: JSON.stringify({ service, counts: summary.countsByLevel, top: summary.topMessages }),
            },
          ]);
          return answer.content.trim().slice(0, 300);
        });
      const inserted = await tx.query(
        `insert into log_summaries (id, service, window_start, window_end, logic, lines, counts, top_messages,
                                    summary, last_source_offset, duplicates, late, consumer_group)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) on conflict (id) do nothing`,
        [
          summary.id,
          service,
          new Date(summary.windowStart),
          new Date(summary.windowEnd),
          summary.logic,
          summary.lines,
          JSON.stringify(summary.countsByLevel),
          JSON.stringify(summary.topMessages),
          summary.summary,
          summary.lastSourceOffset,
          dup,
          late,
          ctx.group,
        ],
      );
      written += inserted.rowCount ?? 0;
    }
  };
  const pipeline = accord.pipeline({
    name: 'log-summarizer',
    group: options.group ?? namespacedGroup('log-summarizer'),
    topics: [topic('parsed_log')],
    mode: 'transactional',
    window: defineWindow({
      sizeMs: windowMs,
      init: newFold,
      add: (state, event) => {
        const r = event.value as unknown as ParsedLogRecord;
        return fold(
          state,
          {
            service: r.service,
            level: r.level,
            message: r.message,
            loggedAt: Number(event.timestamp),
            sourceOffset: r.sourceOffset ?? -1,
          },
          windowMs,
          logic,
        );
      },
      close: closeWindow,
    }),
  });
  const publisher = accord.publisher({ producer: 'log-summarizer' });
  const relay = startTableRelay(
    pool,
    publisher,
    {
      table: 'log_summaries',
      columns: `service, window_start, window_end, logic, counts, top_messages, summary, last_source_offset`,
      toItem: (row: SummaryRow) =>
        ({
          type: 'accord.logs.LogSummary',
          data: {
            service: row.service,
            windowStart: row.window_start.getTime(),
            windowEnd: row.window_end.getTime(),
            countsByLevel: row.counts,
            topMessages: row.top_messages,
            logic: row.logic,
            summary: row.summary,
            lastSourceOffset: Number(row.last_source_offset),
          } satisfies Omit<LogSummary, 'envelope'>,
          options: { entityId: row.service, eventId: row.id, occurredAt: row.window_end },
        }) as Item,
    },
    log,
  );
  await pipeline.start();
  return {
    running: { stage: 'summarize', group: pipeline.group, logic: logicName, windowMs },
    async stop() {
      await pipeline.stop();
      await relay.stop();
      return { summaries: written, published: relay.published(), duplicates };
    },
  };
}

interface SummaryRow {
  id: string;
  service: string;
  window_start: Date;
  window_end: Date;
  logic: string;
  counts: Record<string, number>;
  top_messages: string[];
  summary: string;
  last_source_offset: string;
}

export async function startDetector(
  { accord, pool, log }: ServiceContext<Record<string, unknown>>,
  group: string | undefined,
): Promise<RunningService> {
  let anomalies = 0;
  let applied = 0;
  let repeated = 0;
  const pipeline = accord.pipeline({
    name: 'log-detector',
    group: group ?? namespacedGroup('log-detector'),
    topics: [topic('log_summary')],
    mode: 'transactional',
    handler: async (event, ctx) => {
      const tx = ctx.tx as SqlClient;
      const s = event.value as unknown as LogSummary;
      const logic = s.logic ?? 'levels';
      const { rows } = await tx.query<{ windows: number; mean: number; variance: number; last: Date }>(
        `select windows, mean, variance, last_window_end as last from log_baselines
          where service = $1 and logic = $2 for update`,
        [s.service, logic],
      );
      const current = rows[0];
      if (current && s.windowEnd <= current.last.getTime()) {
        // A summary this baseline already took in (a relay re-publish): applying it again would count it twice.
        repeated++;
        log.info(
          { summary: s.envelope.eventId, service: s.service, logic },
          'summary already applied; not counted again',
        );
        return;
      }
      const verdict = detect(current, s.countsByLevel);
      await tx.query(
        `insert into log_baselines (service, logic, windows, mean, variance, last_window_end)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (service, logic) do update set windows = excluded.windows, mean = excluded.mean,
           variance = excluded.variance, last_window_end = excluded.last_window_end`,
        [
          s.service,
          logic,
          verdict.baseline.windows,
          verdict.baseline.mean,
          verdict.baseline.variance,
          new Date(s.windowEnd),
        ],
      );
      applied++;
      if (!verdict.anomaly) return;
      const a = verdict.anomaly;
      const inserted = await tx.query(
        `insert into log_anomalies (id, summary_id, service, logic, metric, observed, expected, score, window_start, window_end)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (id) do nothing`,
        [
          deterministicId('log-anomaly', s.envelope.eventId, a.metric),
          s.envelope.eventId,
          s.service,
          logic,
          a.metric,
          a.observed,
          a.expected,
          a.score,
          new Date(s.windowStart),
          new Date(s.windowEnd),
        ],
      );
      anomalies += inserted.rowCount ?? 0;
    },
  });
  const publisher = accord.publisher({ producer: 'log-detector' });
  const relay = startTableRelay(
    pool,
    publisher,
    {
      table: 'log_anomalies',
      columns: 'summary_id, service, logic, metric, observed, expected, score, window_end',
      toItem: (row: AnomalyRow) =>
        ({
          type: 'accord.logs.LogAnomaly',
          data: {
            service: row.service,
            metric: row.metric,
            observed: row.observed,
            expected: row.expected,
            score: row.score,
            windowEnd: row.window_end.getTime(),
            logic: row.logic,
          } satisfies Omit<LogAnomaly, 'envelope'>,
          options: {
            entityId: row.service,
            eventId: row.id,
            occurredAt: row.window_end,
            causationId: row.summary_id,
          },
        }) as Item,
    },
    log,
  );
  await pipeline.start();
  return {
    running: { stage: 'detect', group: pipeline.group },
    async stop() {
      await pipeline.stop();
      await relay.stop();
      return { applied, repeated, anomalies, published: relay.published() };
    },
  };
}

interface AnomalyRow {
  id: string;
  summary_id: string;
  service: string;
  logic: string;
  metric: string;
  observed: number;
  expected: number;
  score: number;
  window_end: Date;
}
