#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
import { parseArgs } from 'node:util';
import {
  BUNDLED_SAMPLE_DIR,
  BUNDLED_SAMPLE_MINUTES,
  BUNDLED_SAMPLE_SEED,
  referenceCatalog,
  SUMMARY_LOGICS,
  type SummaryLogic,
} from '@accord/reference';
import {
  ChatClient,
  createPgPool,
  describeError,
  type RunningService,
  refuseSuperuser,
  resolveConfig,
  runService,
  type ServiceContext,
  serviceDatabaseUrl,
  UsageError,
} from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import { formatLogReport, measureLogs, settleLogs } from './report';
import { startDetector, startParser, startSummarizer } from './stages';
import { ingest, writeSample } from './tools';

const HELP = `Usage: node services/logs/dist/main.js <command> [options]

The reference log pipeline: three chained pipelines, each with its own consumer group and checkpoints,
on the logs.* topics (keyed by service).

Stages (services: run until SIGTERM or SIGINT, stop cleanly):
  parse       raw lines (logs.raw_log.events) → parsed records (logs.parsed_log.events). A line that is
              not <ISO time> <LEVEL> <message> goes to the dead-letter topic log-parser.dlq with the column
              and the reason. Each record's id derives from its raw line's, so a re-publish after a crash
              is recognised downstream.
  summarize   windows of parsed records → one summary per service and window (logs.log_summary.events),
              written to log_summaries in the transaction that moves the window checkpoint, then relayed:
              killed mid-batch it resumes after its last closed window, with no summary lost or doubled.
              Replay it with changed logic (accord replay log-summarizer --to-time <ISO>) and it writes
              new summaries beside the old ones, which the detector takes in.
  detect      summaries → anomalies (logs.log_anomaly.events, log_anomalies): errors far above the
              service's baseline (per logic), in the transaction that moves its checkpoint.

Tools:
  sample      writes the seeded sample: <out>/<service>.log and <out>/incidents.json
  ingest      ships a directory of <service>.log files to logs.raw_log.events, merged in time order
  report      waits until the stages settled, then recounts from Kafka and the tables (as the read-only
              auditor): lines, dead letters, summaries per logic, anomalies against the sample's known
              incidents, lag. Exit 1 when it did not settle, an incident was missed or a false alarm raised.

Options:
  --group <id>            consumer group of a stage (default log-parser, log-summarizer, log-detector)
  --logic <name>          summarize: ${SUMMARY_LOGICS.join(' | ')} (default levels)
  --window-seconds <n>    summarize: window length (default 60)
  --model                 summarize: a model writes each summary's text (ACCORD_MODEL_BASE_URL, ACCORD_MODEL,
                          ACCORD_MODEL_API_KEY), journaled per window: a re-run window never asks twice
  --seed <n>              sample: the seed (default ${BUNDLED_SAMPLE_SEED})
  --minutes <n>           sample: how long the sample runs (default ${BUNDLED_SAMPLE_MINUTES})
  --out <dir>             sample: where to write (default the bundled sample)
  --dir <dir>             ingest, report: the log directory (default the bundled sample)
  --once                  ingest: ship only when the raw topic is empty (a re-run of the demo ships nothing
                          twice; it says so)
  --wait <s>              report: how long to wait for the stages to settle (default 120)
  --json                  report: as JSON on stdout
  -h, --help              this help

Environment:
  LOGS_DATABASE_URL   Postgres as the least-privilege role (default: DATABASE_URL with the user accord_logs)
  KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL, ACCORD_TOPIC_NAMESPACE

The bundled sample: ${BUNDLED_SAMPLE_DIR}`;

type Values = {
  group?: string;
  logic?: string;
  'window-seconds'?: string;
  model?: boolean;
  seed?: string;
  minutes?: string;
  out?: string;
  dir?: string;
  once?: boolean;
  wait?: string;
  json?: boolean;
};

const OPTIONS = {
  group: { type: 'string' },
  logic: { type: 'string' },
  'window-seconds': { type: 'string' },
  model: { type: 'boolean' },
  seed: { type: 'string' },
  minutes: { type: 'string' },
  out: { type: 'string' },
  dir: { type: 'string' },
  once: { type: 'boolean' },
  wait: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return n;
}

function stage(
  name: string,
  start: (ctx: ServiceContext<Values>) => Promise<RunningService>,
  argv: string[],
) {
  return runService<Values>(
    {
      name: `logs-${name}`,
      help: HELP,
      options: OPTIONS,
      role: 'accord_logs',
      databaseUrlVariable: 'LOGS_DATABASE_URL',
      catalog: referenceCatalog,
      start,
    },
    argv,
  );
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'parse':
      return stage('parse', (ctx) => startParser(ctx, ctx.values.group), rest);
    case 'detect':
      return stage('detect', (ctx) => startDetector(ctx, ctx.values.group), rest);
    case 'summarize':
      return stage(
        'summarize',
        async (ctx) => {
          const logic = ctx.values.logic ?? 'levels';
          if (!(SUMMARY_LOGICS as readonly string[]).includes(logic))
            throw new UsageError(`--logic must be one of ${SUMMARY_LOGICS.join(', ')}, got "${logic}"`);
          return startSummarizer(ctx, {
            ...(ctx.values.group ? { group: ctx.values.group } : {}),
            logic: logic as SummaryLogic,
            windowMs: positiveInteger('window-seconds', ctx.values['window-seconds'], 60) * 1000,
            ...(ctx.values.model ? { model: ChatClient.fromEnv() } : {}),
          });
        },
        rest,
      );
    case 'report':
      return report(rest);
    case 'sample':
    case 'ingest': {
      let values: Values;
      try {
        values = parseArgs({ args: rest, options: { ...OPTIONS, help: { type: 'boolean', short: 'h' } } })
          .values as Values & { help?: boolean };
        if ((values as { help?: boolean }).help) {
          process.stdout.write(`${HELP}\n`);
          return 0;
        }
        if (command === 'sample') {
          const out = values.out ?? BUNDLED_SAMPLE_DIR;
          const seed = positiveInteger('seed', values.seed, BUNDLED_SAMPLE_SEED);
          const minutes = positiveInteger('minutes', values.minutes, BUNDLED_SAMPLE_MINUTES);
          const written = writeSample(out, seed, minutes);
          process.stderr.write(
            `[logs] wrote ${written.lines} lines of ${written.files} services to ${out} (seed ${seed})\n`,
          );
          return 0;
        }
      } catch (error) {
        process.stderr.write(`logs: ${describeError(error)} (see --help)\n`);
        return 2;
      }
      const dir = values.dir ?? BUNDLED_SAMPLE_DIR;
      try {
        let shown = 0;
        const shipped = await ingest(dir, {
          once: values.once === true,
          progress: (done, total) => {
            if (done === total || Date.now() - shown > 2000) {
              shown = Date.now();
              process.stderr.write(`[logs] shipped ${done}/${total} lines\n`);
            }
          },
        });
        if (shipped.skipped !== undefined)
          process.stderr.write(
            `[logs] not shipped: ${shipped.skipped} record(s) already in the raw topic (--once); the stages' results stand\n`,
          );
        process.stdout.write(
          `${JSON.stringify({ shipped: shipped.lines, services: shipped.services, alreadyThere: shipped.skipped ?? 0 })}\n`,
        );
        return 0;
      } catch (error) {
        process.stderr.write(`logs: cannot ingest ${dir}: ${describeError(error)}\n`);
        return error instanceof UsageError ? 2 : 1;
      }
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${HELP}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`logs: unknown command "${command}" (see --help)\n`);
      return 2;
  }
}

async function report(argv: string[]): Promise<number> {
  let values: Values & { help?: boolean };
  let waitMs: number;
  try {
    values = parseArgs({ args: argv, options: { ...OPTIONS, help: { type: 'boolean', short: 'h' } } }).values;
    waitMs = positiveInteger('wait', values.wait, 120) * 1000;
  } catch (error) {
    process.stderr.write(`logs: ${describeError(error)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const databaseUrl = serviceDatabaseUrl('accord_auditor', 'AUDITOR_DATABASE_URL');
  const pool = createPgPool(databaseUrl, { max: 2 });
  let ops: Ops | undefined;
  try {
    await refuseSuperuser(pool, 'logs report', databaseUrl, 'accord_auditor');
    ops = await Ops.connect(resolveConfig({ databaseUrl }));
    const pending = await settleLogs(ops, pool, waitMs);
    const settled = pending === undefined;
    if (!settled)
      process.stderr.write(`[logs] the stages had not settled after ${waitMs / 1000} s: ${pending}\n`);
    const measured = await measureLogs(ops, pool, values.dir ?? BUNDLED_SAMPLE_DIR);
    process.stdout.write(
      values.json ? `${JSON.stringify(measured, null, 2)}\n` : `${formatLogReport(measured)}\n`,
    );
    const missed = measured.incidents.some((i) => !i.found);
    return settled && !missed && measured.falseAlarms === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(`logs report: ${describeError(error)}\n`);
    return 1;
  } finally {
    await ops?.close();
    await pool.end();
  }
}

if (require.main === module)
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
