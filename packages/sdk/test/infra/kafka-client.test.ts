import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKafkaClient } from '../../src/infra/clients';

const installed = require.resolve('kafkajs/src/producer/sendMessages.js');

describe('checkKafkaClient: refuses a kafkajs without the leader-change fix', () => {
  test('the installed kafkajs carries the fix (npm postinstall applied patches/kafkajs+2.2.4.patch)', () => {
    const source = readFileSync(installed, 'utf8');
    expect(source).toContain('responsePerPartition'); // fix 1: retries per partition
    expect(source).toContain('needsNewProducerId'); // fix 2: a new producer id after a failed send
    expect(() => checkKafkaClient(installed)).not.toThrow();
  });

  test('an unpatched producer source is refused with KAFKA_CLIENT_UNPATCHED, naming the file and the fix', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'accord-kafkajs-')), 'sendMessages.js');
    // The first version of the patch (fix 1 only) is refused too.
    writeFileSync(
      file,
      '// Patched by Accord (patches/kafkajs+2.2.4.patch)\nconst responsePerPartition = new Map()\n',
    );
    expect(() => checkKafkaClient(file)).toThrow(
      expect.objectContaining({
        code: 'KAFKA_CLIENT_UNPATCHED',
        message: expect.stringContaining(`${file} lacks Accord's fixes`),
      }),
    );
    expect(() => checkKafkaClient(file)).toThrow(/npm install .*patches\/kafkajs\+2\.2\.4\.patch/);
  });
});

describe("the patch's grouping of a batch by partition (linear since the patch; it copied arrays per message)", () => {
  const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
    topic: string;
    partitionMetadata: unknown[];
    messages: { key: string }[];
    partitioner: (args: { message: { key: string } }) => number;
  }) => Record<number, { key: string }[]>;

  test('every message lands in its partition, in the order given', () => {
    const messages = Array.from({ length: 3000 }, (_, i) => ({ key: `k-${i}` }));
    const grouped = group({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => Number(message.key.slice(2)) % 3,
    });
    expect(Object.keys(grouped)).toEqual(['0', '1', '2']);
    for (const p of [0, 1, 2]) expect(grouped[p]).toEqual(messages.filter((_, i) => i % 3 === p));
    expect(
      readFileSync(require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js'), 'utf8'),
    ).toContain('Accord: one push per message');
  });

  test('a topic without partition metadata groups nothing', () => {
    expect(
      group({ topic: 't', partitionMetadata: [], messages: [{ key: 'a' }], partitioner: () => 0 }),
    ).toEqual({});
  });
});
