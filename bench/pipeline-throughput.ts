/**
 * Pipeline consume throughput against raw kafkajs eachBatch consumers (one decoding the Avro body with
 * avsc, one not), on the same topic, broker and machine, in one run. Reports events/s and the ratio to
 * the raw consumer that does the same work (pipelines that decode against the raw one that decodes).
 *
 * `--sdk-first` runs the pipelines before the raw consumers (npm run bench alternates the order between
 * runs, so what the first consumer pays, a cold page cache or JIT, falls on each side in turn).
 *
 *   scripts/bench.sh pipeline-throughput [--events 50000] [--partitions 6] [--sdk-first]
 */
import { parseArgs } from 'node:util';
import { referenceCatalog } from '@accord/reference';
import { createPipeline, RegistryHttpClient, resolveConfig } from '@accord/sdk';
import avsc from 'avsc';
import { runBench, withBenchTopic } from './harness.ts';
import { writeMetrics } from './metrics.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    partitions: { type: 'string', default: '6' },
    'sdk-first': { type: 'boolean' },
    json: { type: 'string' },
  },
});
const total = Number(values.events);
const partitions = Number(values.partitions);
const config = resolveConfig();
const run = `bench-${Date.now().toString(36)}`;

async function main(): Promise<void> {
  const schema = run.replace(/-/g, '_');
  await withBenchTopic(
    config,
    { run, partitions, total, entities: 500 },
    async ({ kafka, pool, topic, groups }) => {
      await pool.query(`create schema "${schema}"`);
      try {
        const results: { name: string; seconds: number }[] = [];

        // Raw kafkajs: eachBatch, commit per batch; once without decoding, once decoding the Avro body with
        // avsc and the writer's schema fetched once (what a user writing it by hand would do): the fair
        // baseline for the pipelines that decode.
        const writerId = (
          await new RegistryHttpClient(config.schemaRegistry.url).lookup(
            'accord.commerce.DiscountApproved',
            JSON.stringify(referenceCatalog.schema('accord.commerce.DiscountApproved')),
          )
        )?.id;
        if (writerId === undefined) throw new Error('DiscountApproved is not registered');
        const writer = avsc.Type.forSchema(
          JSON.parse((await new RegistryHttpClient(config.schemaRegistry.url).schemaById(writerId)).schema),
        );
        const runRaw = async () => {
          for (const [name, decodeRaw] of [
            ['raw kafkajs eachBatch', false],
            ['raw kafkajs eachBatch + avsc decode', true],
          ] as const) {
            const group = `${run}-raw-${decodeRaw ? 'd' : 'n'}`;
            groups.push(group);
            const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
            let count = 0;
            let done: () => void = () => {};
            const finished = new Promise<void>((r) => {
              done = r;
            });
            await consumer.connect();
            await consumer.subscribe({ topic, fromBeginning: true });
            let t0 = 0;
            await consumer.run({
              eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
                t0 ||= Date.now();
                for (const m of batch.messages) {
                  if (decodeRaw && m.value) writer.fromBuffer(m.value.subarray(5));
                  count++;
                  resolveOffset(m.offset);
                }
                await commitOffsetsIfNecessary();
                if (count >= total) done();
              },
            });
            await finished;
            results.push({ name, seconds: (Date.now() - t0) / 1000 });
            await consumer.disconnect();
          }
        };

        const runPipelines = async () => {
          for (const [name, mode, decode] of [
            ['pipeline at-least-once (Avro decode)', 'at-least-once', true],
            ['pipeline at-least-once (no decode)', 'at-least-once', false],
            ['pipeline transactional (Avro decode)', 'transactional', true],
          ] as const) {
            const group = `${run}-${mode}-${decode ? 'd' : 'n'}`;
            groups.push(group);
            let count = 0;
            let done: () => void = () => {};
            const finished = new Promise<void>((r) => {
              done = r;
            });
            const pipeline = createPipeline({
              name: group,
              topics: [topic],
              mode,
              decode,
              config,
              pool,
              handler: () => {
                t0 ||= Date.now();
                if (++count >= total) done();
              },
            });
            let t0 = 0;
            await pipeline.start();
            await finished;
            results.push({ name, seconds: (Date.now() - t0) / 1000 });
            await pipeline.stop();
          }
        };
        if (values['sdk-first']) {
          await runPipelines();
          await runRaw();
        } else {
          await runRaw();
          await runPipelines();
        }

        const raw = results.find((r) => r.name === 'raw kafkajs eachBatch')!;
        const rawDecoding = results.find((r) => r.name === 'raw kafkajs eachBatch + avsc decode')!;
        /** Pipelines that decode are compared with the raw consumer that decodes too. */
        const baseline = (name: string) => (name.includes('Avro decode') ? rawDecoding : raw);
        process.stdout.write(
          `\n${'consumer'.padEnd(40)}${'seconds'.padStart(9)}${'events/s'.padStart(11)}${'vs raw'.padStart(9)}\n`,
        );
        for (const r of results) {
          const rate = total / r.seconds;
          const ratio = baseline(r.name).seconds / r.seconds;
          process.stdout.write(
            `${r.name.padEnd(40)}${r.seconds.toFixed(2).padStart(9)}${Math.round(rate).toString().padStart(11)}${`${ratio.toFixed(2)}x`.padStart(9)}\n`,
          );
        }
        writeMetrics(
          values.json,
          'pipeline-throughput',
          results.map((r) => ({
            name: `consume: ${r.name}`,
            value: total / r.seconds,
            unit: 'events/s' as const,
            ratio: baseline(r.name).seconds / r.seconds,
          })),
        );
        process.stdout.write(
          `\n(same topic, broker and machine; ${total} events; ${values['sdk-first'] ? 'pipelines first' : 'raw first'}; each consumer a fresh group reading from the start;\n timed from the first event handled to the last, so group joins are not counted)\n`,
        );
      } finally {
        await pool.query(`drop schema if exists "${schema}" cascade`).catch(() => {});
      }
    },
  );
}

runBench(main);
