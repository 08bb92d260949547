/**
 * `accord publish` of files bigger than one produce request (the broker refuses a record batch over
 * message.max.bytes, 1 MiB by default): streamed in order with bounded memory and progress; with --file a
 * bad line anywhere means nothing is sent; from stdin a bad line stops the publish there and the error says
 * what was already published. (The 1,000,000-line run is in the benchmark.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestContext } from '@accord/testing';
import { accord, accordWithStdin } from './cli';

jest.setTimeout(180000);

const ctx = new TestContext();
afterAll(() => ctx.cleanup());
const dir = mkdtempSync(join(tmpdir(), 'accord-publish-'));

const line = (n: number) =>
  JSON.stringify({
    entity: `o-${n % 500}`,
    data: { orderId: `o-${n % 500}`, percent: n % 90, approvedBy: `pricing-${'x'.repeat(40)}` },
  });

async function records(topic: string): Promise<number> {
  const offsets = await (await ctx.kafkaAdmin()).fetchTopicOffsets(topic);
  return offsets.reduce((n, p) => n + Number(p.high), 0);
}

test('a 20,000-line file (several MB, many requests) is published whole, in order per entity', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const file = join(dir, 'big.ndjson');
  const lines = Array.from({ length: 20_000 }, (_, i) => line(i + 1));
  writeFileSync(file, `${lines.join('\n')}\n`);
  expect(lines.join('\n').length).toBeGreaterThan(2 * 1024 * 1024);
  const result = await accord(['publish', topic, '--type', 'DiscountApproved', '--file', file]);
  expect(result.stdout).toBe(`published 20000 events to ${topic}\n`);
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('100% 20000/20000 event(s)');
  expect(await records(topic)).toBe(20_000);
  // Per entity, the order of the file: o-7's percents in the file's order.
  const tail = await accord([
    'tail',
    topic,
    '--from',
    'earliest',
    '--entity',
    'o-7',
    '--max',
    '40',
    '--json',
  ]);
  const percents = tail.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).value.percent);
  const expected = Array.from({ length: 40 }, (_, k) => (7 + 500 * k) % 90);
  expect(percents).toEqual(expected);
});

test('with --file, a bad line anywhere sends nothing; from stdin, it stops there and says what was sent', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const file = join(dir, 'bad.ndjson');
  const lines = Array.from({ length: 6_000 }, (_, i) => line(i + 1));
  lines[4_499] = JSON.stringify({
    entity: 'o-1',
    data: { orderId: 'o-1', percent: 'lots', approvedBy: 'x' },
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
  const refused = await accord(['publish', topic, '--type', 'DiscountApproved', '--file', file]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(
    `${file} line 4500: invalid accord.commerce.DiscountApproved: percent: expected "double", got "lots"`,
  );
  expect(await records(topic)).toBe(0);

  const streamed = await accordWithStdin(
    ['publish', topic, '--type', 'DiscountApproved'],
    `${lines.join('\n')}\n`,
  );
  expect(streamed.code).toBe(1);
  expect(streamed.stderr).toContain('stdin line 4500: invalid accord.commerce.DiscountApproved');
  expect(streamed.stderr).toContain(
    '(lines 1–4000: 4000 event(s) published before it; nothing after them was sent)',
  );
  expect(await records(topic)).toBe(4_000);

  const missing = await accord([
    'publish',
    topic,
    '--type',
    'DiscountApproved',
    '--file',
    join(dir, 'nope.ndjson'),
  ]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('--file');
});

test('a broker refusing part of a file: the error says how many were acknowledged and from which line to resume', async () => {
  // Line 4,500 is larger than the broker takes (1 MiB). Chunks before it were sent (one in flight while
  // the next is read), none after it: acknowledged = what the log holds, resume = the first line not in it.
  const topic = await ctx.createTopic({ partitions: 1 });
  const file = join(dir, 'refused.ndjson');
  const lines = Array.from({ length: 6_000 }, (_, i) =>
    i + 1 === 4_500
      ? JSON.stringify({
          entity: 'o-big',
          data: { orderId: 'o-big', percent: 1, approvedBy: 'x'.repeat(1_200_000) },
        })
      : line(i + 1),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const result = await accord(['publish', topic, '--type', 'DiscountApproved', '--file', file]);
  expect(result.code).toBe(1);
  const told = /(\d+) event\(s\) of \S+ acknowledged in order; resume from line (\d+)/.exec(result.stderr);
  expect(told).not.toBeNull();
  const [acknowledged, resume] = [Number(told?.[1]), Number(told?.[2])];
  expect(await records(topic)).toBe(acknowledged);
  expect(acknowledged).toBeGreaterThanOrEqual(4_000); // the first two chunks of 2,000, at least
  expect(acknowledged).toBeLessThan(4_500);
  expect(resume).toBe(acknowledged + 1); // one line per event: the first line not acknowledged
});
