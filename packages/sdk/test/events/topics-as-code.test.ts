import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadTopicDeclarations } from '@accord/sdk';

function topicsFile(json: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'accord-topics-')), 'topics.json');
  writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  return file;
}

const defaults = { partitions: 3, cleanupPolicy: 'delete', retentionMs: -1, compatibility: 'BACKWARD' };

test("the project's topics.json loads: defaults merged into each topic, comments allowed", () => {
  const topics = loadTopicDeclarations(resolve(__dirname, '../../../../infra/kafka/topics.json'));
  expect(topics.find((t) => t.name === 'commerce.order.proposals')).toEqual({
    name: 'commerce.order.proposals',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 604800000,
    compatibility: 'BACKWARD_TRANSITIVE',
  });
});

test('errors name the file, the topic and the field', () => {
  const file = topicsFile({ defaults, topics: [{ name: 'a.b.events' }, { name: 'x', partitions: 0 }] });
  expect(() => loadTopicDeclarations(file)).toThrow(
    `${file}: topics[1] (x): partitions: must be a positive integer (got 0)`,
  );
  expect(() =>
    loadTopicDeclarations(topicsFile({ defaults, topics: [{ name: 'x', cleanupPolicy: 'forever' }] })),
  ).toThrow(
    /topics\[0\] \(x\): cleanupPolicy: Invalid option: expected one of "delete"\|"compact"\|"compact,delete" \(got "forever"\)/,
  );
  expect(() =>
    loadTopicDeclarations(topicsFile({ defaults, topics: [{ name: 'x', retention: 5 }] })),
  ).toThrow(/topics\[0\] \(x\): Unrecognized key: "retention"/);
  expect(() =>
    loadTopicDeclarations(topicsFile({ defaults, topics: [{ name: 'x' }, { name: 'x' }] })),
  ).toThrow(/topics\[1\] \(x\): declared twice/);
  expect(() => loadTopicDeclarations(topicsFile('{ nope'))).toThrow(/topics.json: .*JSON/);
  expect(() => loadTopicDeclarations(topicsFile({ topic: [] }))).toThrow(/topics: .*expected array/);
});
