/**
 * Scaling: one consumer group working through a backlog with 1, 2 and 4 processes (bench/scaling-member.ts),
 * pipelines (at least once, Avro decode) against raw kafkajs eachBatch consumers with the same number of
 * processes, same topic, broker and run; and the peak resident memory (VmHWM) of each process while it works
 * through the backlog: what a service built on one pipeline holds, whatever the backlog.
 *
 *   scripts/bench.sh scaling [--events 200000] [--partitions 12] [--instances 1,2,4]
 *                            [--member-node-options '--max-semi-space-size=4 --max-old-space-size=64']
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { resolveConfig } from '@accord/sdk';
import { runBench, withBenchTopic } from './harness.ts';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    partitions: { type: 'string', default: '12' },
    instances: { type: 'string', default: '1,2,4' },
    // V8 flags for the member processes only, e.g. '--max-semi-space-size=4 --max-old-space-size=64'.
    'member-node-options': { type: 'string', default: '' },
    json: { type: 'string' },
  },
});
const total = Number(values.events);
const partitions = Number(values.partitions);
const counts = String(values.instances).split(',').map(Number);
if (!(total > 0) || !(partitions > 0) || counts.some((n) => !(n > 0 && n <= partitions))) {
  process.stderr.write('--events, --partitions must be positive; --instances between 1 and --partitions\n');
  process.exit(2);
}
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;

interface Member {
  child: ChildProcess;
  handled: number;
  peakRssMb: number;
  heapMb: number;
  externalMb: number;
}

function startMember(topic: string, group: string, raw: boolean): Member {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      '--disable-warning=ExperimentalWarning',
      '--disable-warning=MODULE_TYPELESS_PACKAGE_JSON',
      ...String(values['member-node-options']).split(' ').filter(Boolean),
      'bench/scaling-member.ts',
      '--topic',
      topic,
      '--group',
      group,
      ...(raw ? ['--raw'] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const member: Member = { child, handled: 0, peakRssMb: 0, heapMb: 0, externalMb: 0 };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      const r = JSON.parse(line) as Omit<Member, 'child'>;
      member.handled = r.handled;
      member.peakRssMb = Math.max(member.peakRssMb, r.peakRssMb);
      member.heapMb = Math.max(member.heapMb, r.heapMb);
      member.externalMb = Math.max(member.externalMb, r.externalMb);
    } catch {
      // not a report line
    }
  });
  return member;
}

async function main(): Promise<void> {
  await withBenchTopic(
    config,
    { run, partitions, total, entities: 5000, poolSize: 2 },
    async ({ admin, topic, groups }) => {
      const rows: {
        kind: 'pipeline' | 'raw';
        n: number;
        rate: number;
        peakRssMb: number;
        heapMb: number;
        externalMb: number;
      }[] = [];
      for (const n of counts)
        for (const raw of [true, false]) {
          const group = `${run}-${raw ? 'raw' : 'pipe'}-${n}`;
          groups.push(group);
          const members = Array.from({ length: n }, () => startMember(topic, group, raw));
          // Timed from the first event handled to every partition's committed offset at the log end
          // (members joining meanwhile rebalance the group: part of what scaling costs).
          let t0 = 0;
          for (;;) {
            if (!t0 && members.some((m) => m.handled > 0)) t0 = performance.now();
            if (members.some((m) => m.child.exitCode !== null))
              throw new Error(`a member of ${group} exited`);
            if (t0) {
              const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
              const done = (committed?.partitions ?? []).reduce(
                (s, p) => s + Math.max(0, Number(p.offset)),
                0,
              );
              if (done >= total) break;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          const seconds = (performance.now() - t0) / 1000;
          await Promise.all(
            members.map(
              (m) =>
                new Promise<void>((resolve) => {
                  m.child.once('exit', () => resolve());
                  m.child.kill('SIGTERM');
                }),
            ),
          );
          const row = {
            kind: raw ? ('raw' as const) : ('pipeline' as const),
            n,
            rate: total / seconds,
            peakRssMb: Math.max(...members.map((m) => m.peakRssMb)),
            heapMb: Math.max(...members.map((m) => m.heapMb)),
            externalMb: Math.max(...members.map((m) => m.externalMb)),
          };
          rows.push(row);
          process.stdout.write(
            `  ${row.kind.padEnd(9)} × ${n}: ${Math.round(row.rate)} events/s, peak RSS per process ${row.peakRssMb.toFixed(0)} MB (V8 heap ${row.heapMb.toFixed(0)} MB, buffers ${row.externalMb.toFixed(0)} MB at most)\n`,
          );
        }
      const rawOf = (n: number) => rows.find((r) => r.kind === 'raw' && r.n === n) as (typeof rows)[number];
      process.stdout.write(
        `\n${'instances'.padEnd(10)}${'pipeline/s'.padStart(12)}${'raw/s'.padStart(10)}${'vs raw'.padStart(8)}${'RSS MB'.padStart(8)}${'raw RSS'.padStart(9)}\n`,
      );
      for (const r of rows.filter((x) => x.kind === 'pipeline'))
        process.stdout.write(
          `${String(r.n).padEnd(10)}${Math.round(r.rate).toString().padStart(12)}${Math.round(rawOf(r.n).rate).toString().padStart(10)}${`${(r.rate / rawOf(r.n).rate).toFixed(2)}x`.padStart(8)}${r.peakRssMb.toFixed(0).padStart(8)}${rawOf(r.n).peakRssMb.toFixed(0).padStart(9)}\n`,
        );
      process.stdout.write(
        `\n(${total} events, ${partitions} partitions, one process per instance; the backlog is whole when they start)\n`,
      );
      writeMetrics(
        values.json,
        'scaling',
        rows.flatMap((r) =>
          r.kind === 'raw'
            ? [
                {
                  name: `scaling: raw kafkajs × ${r.n}, peak RSS per process`,
                  value: r.peakRssMb,
                  unit: 'MB' as const,
                },
              ]
            : [
                {
                  name: `scaling: pipeline × ${r.n} (at least once, decode)`,
                  value: r.rate,
                  unit: 'events/s' as const,
                  ratio: r.rate / rawOf(r.n).rate,
                },
                {
                  name: `scaling: pipeline × ${r.n}, peak RSS per process`,
                  value: r.peakRssMb,
                  unit: 'MB' as const,
                },
              ],
        ),
      );
    },
  );
}

runBench(main);
