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
