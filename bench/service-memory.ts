/**
 * What a real service holds while it works through a backlog: the archive (services/archive/dist/main.js,
 * a transactional pipeline writing every event to Postgres) started as its own process on a topic of
 * --events events, once per profile (V8 flags and fetch size), its peak resident memory (VmHWM) read from
 * /proc until its checkpoints reach the log end. #15 asked that a service stay under 150 MB whatever the
 * backlog; the profiles show what V8's own sizing does and what Accord's service flags do. Then the
 * feature service (bench/feature-service-memory.ts: a pipeline per reference view version in one process,
 * writing Redis) through a backlog of as many events, under its own heap profile (SERVICE_HEAP_PROFILES).
 *
 * The flags and fetch size are packages/sdk/src/config/service-profile.ts's.
 *
 *   scripts/bench.sh service-memory [--events 100000] [--partitions 6]
 */
import { parseArgs } from 'node:util';
import { resolveConfig, SERVICE_FETCH_MAX_BYTES, SERVICE_NODE_FLAGS, serviceNodeFlags } from '@accord/sdk';
import { featureServiceMemory } from './feature-service-memory.ts';
import { runBench, withBenchTopic } from './harness.ts';
import { writeMetrics } from './metrics.ts';
import { measureService } from './service-run.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    partitions: { type: 'string', default: '6' },
    json: { type: 'string' },
  },
});
const total = Number(values.events);
const partitions = Number(values.partitions);
if (!Number.isInteger(total) || total < 1 || !Number.isInteger(partitions) || partitions < 1) {
  process.stderr.write('bench: --events and --partitions must be positive whole numbers\n');
  process.exit(2);
}
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;
const MiB = 1024 * 1024;

/** The profiles compared: V8's defaults, and what Accord starts services with (SERVICE_NODE_FLAGS). */
const PROFILES = [
  { name: 'V8 defaults, 4 MiB fetches', flags: [] as string[], fetch: 4 * MiB },
  { name: 'service V8 flags, 4 MiB fetches', flags: [...SERVICE_NODE_FLAGS], fetch: 4 * MiB },
  {
    name: `the service profile (V8 flags, ${SERVICE_FETCH_MAX_BYTES / 1024} KiB fetches)`,
    flags: [...SERVICE_NODE_FLAGS],
    fetch: SERVICE_FETCH_MAX_BYTES,
  },
];

async function main(): Promise<void> {
  await withBenchTopic(
    config,
    { run, partitions, total, entities: 500 },
    async ({ admin, pool, topic, groups }) => {
      const metrics = [];
      try {
        for (const profile of PROFILES) {
          // accord_archive may advance only groups named like an archive (migration 0021, its Kafka ACLs): least privilege holds here too.
          const group = `accord-archive-${run}-${metrics.length / 2}`;
          groups.push(group);
          const archive = await measureService({
            what: 'the archive',
            args: [
              ...profile.flags,
              'services/archive/dist/main.js',
              '--group',
              group,
              '--topics',
              `^${topic.replace(/\./g, '\\.')}$`,
            ],
            env: {
              ...process.env,
              ACCORD_FETCH_MAX_BYTES: String(profile.fetch),
              ACCORD_SERVICE_NODE_OPTIONS: '',
            },
            total,
            done: async () => {
              const { rows } = await pool.query<{ done: string }>(
                'select coalesce(sum(kafka_offset), 0)::text as done from pipeline_checkpoints where consumer_group = $1',
                [group],
              );
              return Number(rows[0]?.done) >= total;
            },
          });
          process.stdout.write(
            `  ${profile.name.padEnd(48)} ${Math.round(archive.eventsPerSecond)} events/s, peak RSS ${Math.round(archive.peakMb)} MB\n`,
          );
          metrics.push(
            {
              name: `service memory: archive, ${profile.name}, peak RSS`,
              value: archive.peakMb,
              unit: 'MB' as const,
            },
            {
              name: `service memory: archive, ${profile.name}`,
              value: archive.eventsPerSecond,
              unit: 'events/s' as const,
            },
          );
        }
        // The feature service under its own heap profile (SERVICE_HEAP_PROFILES): a pipeline per view version in one process.
        const features = await featureServiceMemory(config, { admin, pool, run, total, partitions });
        const profile = `its heap profile (${serviceNodeFlags({}, 'features').join(' ')}, ${SERVICE_FETCH_MAX_BYTES / 1024} KiB fetches)`;
        process.stdout.write(
          `  ${`features, ${profile}`.padEnd(48)} ${Math.round(features.eventsPerSecond)} events/s, peak RSS ${Math.round(features.peakMb)} MB\n`,
        );
        metrics.push(
          {
            name: `service memory: features, ${profile}, peak RSS`,
            value: features.peakMb,
            unit: 'MB' as const,
          },
          {
            name: `service memory: features, ${profile}`,
            value: features.eventsPerSecond,
            unit: 'events/s' as const,
          },
        );
      } finally {
        await pool.query('delete from event_archive where topic = $1', [topic]).catch(() => {});
      }
      writeMetrics(values.json, 'service-memory', metrics);
      process.stdout.write(
        `\n(${total} events, ${partitions} partitions; the archive as its own process, one profile after another, then the feature service (its views' pipelines in one process) under its own heap profile; peak = VmHWM)\n`,
      );
    },
  );
}

runBench(main);
