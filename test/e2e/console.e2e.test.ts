/**
 * The console tools as a user runs them: `accord publish` (one event, or NDJSON on stdin), `accord tail`
 * (decoded, with partition, offset, key and headers) and `accord topics apply|list` on declarations of
 * the test's own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestContext, uniqueName } from '@accord/testing';
import { accord, accordWithStdin, ROOT } from './cli';

jest.setTimeout(120000);

const ctx = new TestContext();
afterAll(() => ctx.cleanup());

const data = (n: number) => JSON.stringify({ orderId: `o-${n}`, percent: n, approvedBy: 'cli' });

test('publish one event, publish NDJSON from stdin, refuse bad input, tail them back', async () => {
  const topic = await ctx.createTopic({ partitions: 3 });
  const before = new Date(Date.now() - 1000).toISOString();

  const one = await accord([
    'publish',
    topic,
    '--type',
    'DiscountApproved',
    '--entity',
    'o-1',
    '--data',
    data(1),
  ]);
  expect(one.stderr).toBe('');
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(
    new RegExp(
      `^published accord\\.commerce\\.DiscountApproved [0-9a-f-]{36} entity=o-1 to ${topic}\\[\\d\\]@0\\n$`,
    ),
  );

  const lines = [2, 3, 4]
    .map((n) => JSON.stringify({ entity: `o-${n}`, data: JSON.parse(data(n)) }))
    .join('\n');
  const many = await accordWithStdin(['publish', topic, '--type', 'DiscountApproved'], `${lines}\n`);
  expect(many.code).toBe(0);
  expect(many.stdout).toBe(`published 3 events to ${topic}\n`);

  const bad = await accordWithStdin(
    ['publish', topic, '--type', 'DiscountApproved', '--entity', 'o-9'],
    `${data(5)}\n{"orderId": "o-6", "percent": "x"}\n`,
  );
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(
    /^accord publish: stdin line 2: invalid accord\.commerce\.DiscountApproved: percent: expected "double", got "x"; approvedBy: expected "string", got missing \[SCHEMA_VALIDATION_FAILED\]\n$/,
  );
  const notJson = await accordWithStdin(
    ['publish', topic, '--type', 'DiscountApproved', '--entity', 'o-9'],
    '{oops\n',
  );
  expect(notJson.code).toBe(2);
  expect(notJson.stderr).toMatch(/stdin line 1 is not valid JSON/);
  const noEntity = await accord(['publish', topic, '--type', 'DiscountApproved', '--data', data(7)]);
  expect(noEntity.stderr).toMatch(/missing entity id: give --entity/);

  const tail = await accord(['tail', topic, '--from', 'earliest', '--max', '4', '--json']);
  expect(tail.code).toBe(0);
  const records = tail.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(records).toHaveLength(4); // the refused batch sent nothing
  expect(records.map((r) => r.value.percent).sort()).toEqual([1, 2, 3, 4]);
  expect(records[0]).toMatchObject({
    topic,
    partition: expect.any(Number),
    offset: expect.any(String),
    key: expect.stringMatching(/^o-\d$/),
    schemaName: 'accord.commerce.DiscountApproved',
    headers: {
      'accord-event-type': 'accord.commerce.DiscountApproved',
      traceparent: expect.stringMatching(/^00-/),
    },
    value: { envelope: { producer: 'accord-cli' } },
  });

  const filtered = await accord(['tail', topic, '--from', before, '--entity', 'o-3', '--max', '1']);
  expect(filtered.code).toBe(0);
  expect(filtered.stdout).toMatch(
    new RegExp(
      `^${topic}\\[\\d\\]@\\d+ key=o-3 accord\\.commerce\\.DiscountApproved \\{.*"percent":3.*\\} headers=\\{`,
    ),
  );

  const badFrom = await accord(['tail', topic, '--from', 'yesterday-ish']);
  expect(badFrom.code).toBe(2);
  expect(badFrom.stderr).toMatch(/--from must be earliest, latest or an ISO time, got "yesterday-ish"/);
});

test('tail prints undecodable records with the reason and goes on', async () => {
  const topic = await ctx.createTopic({ partitions: 1 });
  const producer = ctx.kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'k', value: Buffer.from('plain text') }] });
  await producer.disconnect();
  await accord(['publish', topic, '--type', 'DiscountApproved', '--entity', 'o-1', '--data', data(1)]);
  const tail = await accord(['tail', topic, '--from', 'earliest', '--max', '2']);
  expect(tail.code).toBe(0);
  const [first, second] = tail.stdout.trim().split('\n');
  expect(first).toMatch(
    /@0 key=k UNDECODABLE WIRE_FORMAT_INVALID: record starts with byte 0x70, expected magic byte 0x00/,
  );
  expect(second).toMatch(/@1 key=o-1 accord\.commerce\.DiscountApproved/);
});

test('topics apply creates declared topics once, and reports drift in partitions', async () => {
  const name = `${uniqueName('t')}.order.events`;
  const dir = mkdtempSync(join(tmpdir(), 'accord-topics-'));
  const file = join(dir, 'topics.json');
  writeFileSync(
    file,
    JSON.stringify({
      defaults: {
        partitions: 3,
        cleanupPolicy: 'delete',
        retentionMs: -1,
        compatibility: 'BACKWARD_TRANSITIVE',
      },
      topics: [{ name }],
    }),
  );
  ctx.onCleanup(async () => {
    await (await ctx.kafkaAdmin()).deleteTopics({ topics: [name] });
  });
  const first = await accord(['topics', 'apply', '--file', file, '--json']);
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout)).toEqual([
    { topic: name, action: 'created', detail: '3 partitions, retention forever' },
  ]);
  const again = await accord(['topics', 'apply', '--file', file, '--json']);
  expect(JSON.parse(again.stdout)).toEqual([{ topic: name, action: 'unchanged', detail: '3 partitions' }]);

  writeFileSync(
    file,
    JSON.stringify({
      defaults: {
        partitions: 6,
        cleanupPolicy: 'delete',
        retentionMs: 86400000,
        compatibility: 'BACKWARD_TRANSITIVE',
      },
      topics: [{ name }],
    }),
  );
  const drift = await accord(['topics', 'apply', '--file', file]);
  expect(drift.code).toBe(1);
  expect(drift.stdout).toMatch(
    new RegExp(`${name.replace(/\./g, '\\.')}\\s+drift\\s+has 3 partitions, declared 6`),
  );
  expect(drift.stderr).toMatch(/accord topics: 1 topic\(s\) differ from/);
  const metadata = await (await ctx.kafkaAdmin()).fetchTopicMetadata({ topics: [name] });
  expect(metadata.topics[0]?.partitions).toHaveLength(3); // never changed automatically

  writeFileSync(file, JSON.stringify({ topics: [{ name, partitions: 0 }] }));
  const invalid = await accord(['topics', 'list', '--file', file]);
  expect(invalid.code).toBe(1);
  expect(invalid.stderr).toMatch(
    /topics\[0\] \(.*\): partitions: must be a positive integer \(got 0\).* \[CONFIG_INVALID\]/,
  );
});

test('up applies the repository topics: the domain topics exist', async () => {
  const list = await accord(['topics', 'list', '--json']);
  expect(list.code).toBe(0);
  const rows = JSON.parse(list.stdout) as { topic: string; action: string }[];
  expect(rows.map((r) => r.topic)).toContain('commerce.order.events');
  expect(rows.every((r) => r.action === 'unchanged')).toBe(true);
});
