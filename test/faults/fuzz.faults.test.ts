/**
 * Fuzzed records at a checkpointed pipeline, at scale: fast-check makes N records (500 short, 5,000 full;
 * seeded, the seed printed) from fresh valid events, each then left alone or mutated: a byte flipped, the
 * body truncated, another magic byte, a random schema id, bytes appended, or random bytes altogether. A
 * raw producer writes them into a topic the archive service (a transactional pipeline, a process) consumes.
 * The auditor accounts for every offset of the log: archived exactly once at that offset, or in the
 * dead-letter topic exactly once with that source and a reason; never both, never neither, never twice;
 * the checkpoint at the log end and the service running.
 */
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { AvroSerde, createPgPool, EventPublisher, MAGIC_BYTE } from '@accord/sdk';
import { eventually, uniqueName } from '@accord/testing';
import fc from 'fast-check';
import { startService } from '../e2e/cli';
import { readRecords } from './audit';
import { faultSuite, ROOT } from './cluster';

const FULL = process.env.ACCORD_FAULTS === 'full';
const RECORDS = FULL ? 5000 : 500;
const SEED = Number(process.env.ACCORD_FUZZ_SEED ?? Date.now() % 1_000_000);
jest.setTimeout(FULL ? 900_000 : 300_000);

const { cluster, ctx, stops } = faultSuite();

const MUTATION = fc.oneof(
  fc.record({ kind: fc.constant('valid' as const) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('magic' as const), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('schema-id' as const), id: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);
type Mutation = typeof MUTATION extends fc.Arbitrary<infer T> ? T : never;

function mutate(value: Buffer, m: Mutation): Buffer {
  const copy = Buffer.from(value);
  switch (m.kind) {
    case 'valid':
      return copy;
    case 'flip':
      copy[m.at % copy.length] = (copy[m.at % copy.length] as number) ^ m.xor;
      return copy;
    case 'truncate':
      return copy.subarray(0, m.at % copy.length);
    case 'magic':
      copy.writeUInt8(m.byte === MAGIC_BYTE ? 1 : m.byte, 0);
      return copy;
    case 'schema-id':
      copy.writeUInt32BE(m.id, 1);
      return copy;
    case 'append':
      return Buffer.concat([copy, Buffer.from(m.bytes)]);
    case 'random':
      return Buffer.from(m.bytes);
  }
}

test(`${RECORDS} fuzzed records at a checkpointed pipeline: every offset archived once or dead-lettered once, with its reason`, async () => {
  process.stderr.write(`[faults] fuzz seed ${SEED} (ACCORD_FUZZ_SEED=${SEED} runs it again)\n`);
  const db = ctx.database();
  await db.migrate(join(ROOT, 'infra/postgres/migrations'));
  const admin = createPgPool(db.url(), { max: 2 });
  const topic = await ctx.createTopic({ partitions: 1 });
  const group = uniqueName('t-archive');
  const archive = await startService(
    'services/archive/dist/main.js',
    ['--group', group, '--topics', `^${topic}$`],
    {
      ...cluster.env,
      ARCHIVE_DATABASE_URL: db.url('accord_archive'),
      DATABASE_URL: db.url(),
      ACCORD_LOG_LEVEL: 'info',
    },
    stops,
  );
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config: cluster.config,
    producer: 'fuzz',
  });
  stops.push(() => publisher.close());
  const mutations = fc.sample(MUTATION, { numRuns: RECORDS, seed: SEED });
  const kinds = new Map<string, number>();
  const messages: { key: string; value: Buffer }[] = [];
  for (const [i, m] of mutations.entries()) {
    const { message } = await publisher.prepare(
      'DiscountApproved',
      { orderId: `o-${i}`, percent: i % 100, approvedBy: `fuzz-${i}` },
      { entityId: `o-${i}`, topic },
    );
    messages.push({ key: `o-${i}`, value: mutate(message.value as Buffer, m) });
    kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
  }
  const producer = ctx.kafka.producer({ idempotent: true });
  await producer.connect();
  stops.push(() => producer.disconnect());
  for (let i = 0; i < messages.length; i += 250)
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 250) });
  const [end] = await (await ctx.kafkaAdmin()).fetchTopicOffsets(topic);
  expect(Number(end?.high)).toBe(RECORDS);
  await eventually(
    async () => {
      const { rows } = await admin.query<{ kafka_offset: string }>(
        'select kafka_offset from pipeline_checkpoints where consumer_group = $1',
        [group],
      );
      return rows[0]?.kafka_offset === end?.high;
    },
    { timeoutMs: 240_000, intervalMs: 500, what: `the archive's checkpoint at the log end ${end?.high}` },
  );

  // The auditor: each offset of the log archived once, or dead-lettered once, never both.
  const { rows } = await admin.query<{ offset: string; n: number }>(
    'select kafka_offset::text as offset, count(*)::int as n from event_archive where topic = $1 group by 1',
    [topic],
  );
  const archived = new Map(rows.map((r) => [r.offset, r.n]));
  const serde = new AvroSerde({ registryUrl: cluster.config.schemaRegistry.url });
  const letters = new Map<string, string[]>();
  const reasons = new Map<string, string>();
  for (const l of await readRecords(ctx, `${group}.dlq`)) {
    const offset = String(l.headers['accord-dlq-source']).split('/').pop() as string;
    letters.set(offset, [...(letters.get(offset) ?? []), String(l.headers['accord-dlq-error-code'])]);
    if (l.value) {
      const letter = (await serde.decode(l.value)).value as { errorMessage?: string };
      reasons.set(offset, String(letter.errorMessage ?? '').slice(0, 300));
    }
  }
  const codes = new Map<string, number>();
  for (const list of letters.values()) for (const c of list) codes.set(c, (codes.get(c) ?? 0) + 1);
  const unaccounted: string[] = [];
  const twice: string[] = [];
  for (let o = 0; o < RECORDS; o++) {
    const a = archived.get(String(o)) ?? 0;
    const d = letters.get(String(o))?.length ?? 0;
    if (a + d === 0) unaccounted.push(`${o} (${mutations[o]?.kind})`);
    else if (a + d > 1) twice.push(`${o} (${mutations[o]?.kind}: archived ${a}, dead-lettered ${d})`);
  }
  process.stderr.write(
    `[faults] fuzz: ${RECORDS} records ${JSON.stringify(Object.fromEntries(kinds))}; archived ${archived.size}, dead-lettered ${letters.size} ${JSON.stringify(Object.fromEntries(codes))}\n`,
  );
  expect({ seed: SEED, unaccounted: unaccounted.slice(0, 10), twice: twice.slice(0, 10) }).toEqual({
    seed: SEED,
    unaccounted: [],
    twice: [],
  });
  // Every valid record archived (a mutation may still decode: then it is archived or refused, as above).
  const validNotArchived = mutations.flatMap((m, o) =>
    m.kind === 'valid' && !archived.has(String(o)) ? [o] : [],
  );
  expect(validNotArchived).toEqual([]);
  // Every reason a stable Accord code (a driver's own error name here once: node-postgres calls its errors "error").
  const uncoded = [...letters].filter(([, list]) => list.some((c) => !/^[A-Z_]+$/.test(c)));
  expect({ uncoded: uncoded.map(([o]) => `${o}: ${reasons.get(o)}`) }).toEqual({ uncoded: [] });
  expect(archive.exitCode()).toBeNull();
  await admin.end();
});
