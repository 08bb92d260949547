/**
 * `npm run bench -- --quick`, as CI runs it so the benchmarks never rot: every benchmark runs against the
 * real stack and reports every metric (each pair measured in the same run). No timing is asserted: only
 * that each benchmark ran, and each number is a real measurement.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceNodeFlags } from '@accord/sdk';
import { ROOT } from './cli';

jest.setTimeout(600000);

test('every benchmark runs in quick mode and reports its metrics', async () => {
  const out = mkdtempSync(join(tmpdir(), 'accord-bench-'));
  const code = await new Promise<number>((resolve) =>
    execFile(
      'bash',
      [join(ROOT, 'scripts', 'bench.sh'), 'all', '--quick', '--out', out],
      { timeout: 540000 },
      (error) => resolve(error ? Number(error.code ?? 1) : 0),
    ),
  );
  expect(code).toBe(0);
  const report = JSON.parse(readFileSync(join(out, 'quick.json'), 'utf8')) as {
    quick: boolean;
    machine: { cpus: number; node: string };
    results: { bench: string; metric: string; median: number; ratio?: number }[];
  };
  expect(report.quick).toBe(true);
  expect(report.machine.cpus).toBeGreaterThan(0);
  expect([...new Set(report.results.map((r) => r.bench))].sort()).toEqual(
    [
      'bulk-publish',
      'decision-roundtrip',
      'feature-read',
      'kafka-clients',
      'pipeline-throughput',
      'publish-throughput',
      'replay',
      'scaling',
      'service-memory',
    ].sort(),
  );
  // The whole decision loop (event → agent → owner → agent) is measured, not only propose → decision.
  expect(report.results.map((r) => r.metric)).toContain(
    'decision loop (event → agent → owner → agent) p95 at 20/s',
  );
  // Real services' peak memory (#15: under 150 MB whatever the backlog): the archive under the service
  // profile, the feature service under its own heap profile.
  expect(report.results.map((r) => r.metric)).toEqual(
    expect.arrayContaining([
      'service memory: archive, the service profile (V8 flags, 512 KiB fetches), peak RSS',
      `service memory: features, its heap profile (${serviceNodeFlags({}, 'features').join(' ')}, 512 KiB fetches), peak RSS`,
    ]),
  );
  for (const r of report.results) {
    expect({ metric: r.metric, measured: Number.isFinite(r.median) && r.median > 0 }).toEqual({
      metric: r.metric,
      measured: true,
    });
    if (r.ratio !== undefined)
      expect({ metric: r.metric, ratio: r.ratio > 0 }).toEqual({ metric: r.metric, ratio: true });
  }
  expect(readFileSync(join(out, 'quick.md'), 'utf8')).toContain(
    '| metric | median | unit | vs raw (same run) | runs |',
  );
});
