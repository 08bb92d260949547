/**
 * The log pipeline's pure logic: the bundled sample is what its generator makes; the parser's errors name
 * the column; the fold counts every line once (re-published lines apart, late ones in the open window);
 * the detector flags the sample's incidents and nothing else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Baseline,
  BUNDLED_SAMPLE_DIR,
  BUNDLED_SAMPLE_MINUTES,
  BUNDLED_SAMPLE_SEED,
  detect,
  fold,
  generateLogSample,
  newFold,
  parseLogLine,
  SAMPLE_SERVICES,
  summarize,
  summaryId,
  template,
} from '@accord/reference';

test('the bundled sample is what the seeded generator writes (regenerate: node services/logs/dist/main.js sample)', () => {
  const sample = generateLogSample({ seed: BUNDLED_SAMPLE_SEED, minutes: BUNDLED_SAMPLE_MINUTES });
  for (const service of SAMPLE_SERVICES)
    expect(readFileSync(join(BUNDLED_SAMPLE_DIR, `${service}.log`), 'utf8')).toBe(
      `${sample.files[service]?.join('\n')}\n`,
    );
  const truth = JSON.parse(readFileSync(join(BUNDLED_SAMPLE_DIR, 'incidents.json'), 'utf8'));
  expect(truth).toMatchObject({ lines: sample.lines, garbled: sample.garbled });
  expect(truth.incidents).toHaveLength(sample.incidents.length);
  expect(sample.incidents.length).toBeGreaterThan(0);
  expect(sample.garbled).toBeGreaterThan(0);
});

test('a line parses into time, level, message and attributes; a bad one names its column', () => {
  expect(
    parseLogLine('2026-11-24T08:00:01.250Z WARN POST /api/cart slow: 812ms req=ab12cd service=checkout'),
  ).toEqual({
    loggedAt: Date.parse('2026-11-24T08:00:01.250Z'),
    level: 'WARN',
    message: 'POST /api/cart slow: 812ms',
    attributes: { req: 'ab12cd', service: 'checkout' },
  });
  expect(() => parseLogLine('    at processTicksAndRejections (node:internal)')).toThrow(
    /^column 1: expected an ISO 8601 UTC time/,
  );
  expect(() => parseLogLine('2026-11-24T08:00:01Z NOTICE something')).toThrow(/^column 22: expected a level/);
  expect(() => parseLogLine('2026-11-24T08:00:01Z INFO k=v')).toThrow(/^column 27: the line has no message/);
  expect(() => parseLogLine('2026-11-24T08')).toThrow(/^column 1: .*got "2026-11-24T08"/);
});

const at = (minute: number, second = 0) =>
  Date.parse('2026-11-24T08:00:00Z') + minute * 60_000 + second * 1000;

test('the fold counts each line once: re-published lines are left out and counted, late ones wait for the close', () => {
  const state = newFold();
  const record = (offset: number, second: number, level = 'INFO', minute = 3) => ({
    service: 'auth',
    level,
    message: `login ok in ${offset}ms`,
    loggedAt: at(minute, second),
    sourceOffset: offset,
  });
  fold(state, record(10, 1), 60_000, 'templates');
  fold(state, record(11, 2, 'ERROR'), 60_000, 'templates');
  fold(state, record(10, 1), 60_000, 'templates'); // the parser published it again
  fold(state, record(12, 3, 'INFO', 2), 60_000, 'templates'); // of the closed minute 2: late
  const s = state.services.get('auth');
  expect(state.start).toBe(at(3));
  expect({
    lines: s?.lines,
    duplicates: s?.duplicates,
    late: s?.late.length,
    last: s?.lastSourceOffset,
  }).toEqual({
    lines: 2,
    duplicates: 1,
    late: 1,
    last: 11,
  });
  const summary = summarize('auth', s!, { start: at(3), end: at(4) }, 'templates');
  expect(summary).toMatchObject({
    id: summaryId('auth', at(3), 'templates'),
    lines: 2,
    countsByLevel: { INFO: 1, ERROR: 1 },
    topMessages: ['login ok in <n>ms (×2)'],
    lastSourceOffset: 11,
  });
  // Another logic is another summary; the same logic the same one.
  expect(summaryId('auth', at(3), 'levels')).not.toBe(summary.id);
  expect(summaryId('auth', at(3), 'templates')).toBe(summary.id);
  expect(template('GET /api/orders/o-1823 failed after 5000ms req=7f3a2b')).toBe(
    'GET /api/orders/<id> failed after <n>ms req=<hex>',
  );
});

test('the detector flags every minute of each sample incident, and nothing else', () => {
  const sample = generateLogSample({ seed: BUNDLED_SAMPLE_SEED, minutes: BUNDLED_SAMPLE_MINUTES });
  const flagged: string[] = [];
  for (const service of SAMPLE_SERVICES) {
    const perMinute = new Map<number, Record<string, number>>();
    for (const line of sample.files[service] ?? []) {
      try {
        const parsed = parseLogLine(line);
        const minute = Math.floor((parsed.loggedAt - sample.start) / 60_000);
        const counts = perMinute.get(minute) ?? {};
        counts[parsed.level] = (counts[parsed.level] ?? 0) + 1;
        perMinute.set(minute, counts);
      } catch {}
    }
    let baseline: Baseline | undefined;
    for (let minute = 0; minute < BUNDLED_SAMPLE_MINUTES; minute++) {
      const verdict = detect(baseline, perMinute.get(minute) ?? {});
      if (verdict.anomaly) flagged.push(`${service}@${minute}`);
      baseline = verdict.baseline;
    }
  }
  const expected = sample.incidents.flatMap((i) =>
    Array.from(
      { length: (i.end - i.start) / 60_000 },
      (_, k) => `${i.service}@${(i.start - sample.start) / 60_000 + k}`,
    ),
  );
  expect(flagged.sort()).toEqual(expected.sort());
});
