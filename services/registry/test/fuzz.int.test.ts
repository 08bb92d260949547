/**
 * Bad input fuzzed at the REST API (fast-check): random subjects and versions, bodies of any shape,
 * schemas that are random JSON or nearly-valid Avro, references and metadata of wrong shapes, configs and
 * modes, and bodies that are not JSON. Every answer is a success or a Confluent error: an HTTP 4xx with a
 * numeric error_code and a message, never a 5xx (a crash or a store error) and never a hang.
 */
import fc from 'fast-check';
import { startTestRegistry, type TestRegistry } from './registry-server';

jest.setTimeout(180000);

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry.close();
});

const RUNS = Number(process.env.ACCORD_FUZZ_RUNS ?? 300);
const seen = new Map<number, number>();

/** A Confluent answer: 2xx, or 4xx with {error_code: number, message: string}. */
async function expectConfluentAnswer(method: string, path: string, body?: unknown, raw?: string) {
  const answer = await registry.call(method, path, body, raw);
  seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
  if (answer.status >= 200 && answer.status < 300) return;
  const error = answer.body as { error_code?: unknown; message?: unknown };
  const verdict = {
    method,
    path,
    status: answer.status,
    code: typeof error?.error_code,
    message: typeof error?.message,
  };
  expect(verdict).toEqual({ ...verdict, code: 'number', message: 'string' });
  expect({ ...verdict, clientError: answer.status >= 400 && answer.status < 500 }).toEqual({
    ...verdict,
    clientError: true,
  });
}

const subject = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constantFrom(
    'orders',
    'a/b',
    '..',
    '%',
    '%00',
    '\u0000',
    'a\u0000b',
    'x'.repeat(300),
    ' ',
    'ü-ñ-🙂',
    'null',
  ),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const segment = (s: string) => encodeURIComponent(s);
const avroish = fc.oneof(
  fc.jsonValue(),
  fc.record(
    {
      type: fc.constantFrom('record', 'enum', 'fixed', 'array', 'map', 'string', 'nope', 7),
      name: fc.oneof(fc.string(), fc.constantFrom('Ok', '1bad', 'a.b.C', '')),
      fields: fc.oneof(
        fc.array(
          fc.record({
            name: fc.string(),
            type: fc.oneof(fc.constantFrom('string', 'long', 'X', ['null', 'string']), fc.jsonValue()),
          }),
        ),
        fc.jsonValue(),
      ),
      symbols: fc.array(fc.string()),
      size: fc.oneof(fc.integer(), fc.string()),
    },
    { requiredKeys: ['type'] },
  ),
);
const schemaField = fc.oneof(
  avroish.map((s) => JSON.stringify(s)),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.jsonValue(),
  // NUL reaches Postgres only as text: raw, and escaped inside JSON (a doc string).
  fc.constantFrom('{"type":"record","name":"N","doc":"a\\u0000b","fields":[]}', 'x\u0000y'),
);
const registerBody = fc.record(
  {
    schema: schemaField,
    schemaType: fc.oneof(fc.constantFrom('AVRO', 'JSON', 'PROTOBUF', 'avro', ''), fc.jsonValue()),
    references: fc.oneof(
      fc.array(
        fc.record({ name: fc.string(), subject: fc.string(), version: fc.oneof(fc.integer(), fc.string()) }),
        { maxLength: 3 },
      ),
      fc.jsonValue(),
    ),
    metadata: fc.oneof(
      fc.constant({ properties: { 'a\u0000': 'b' }, tags: { t: ['\u0000'] } }),
      fc.record({
        properties: fc.dictionary(fc.string(), fc.jsonValue()),
        tags: fc.jsonValue(),
        sensitive: fc.jsonValue(),
      }),
      fc.jsonValue(),
    ),
    ruleSet: fc.oneof(
      fc.record({
        domainRules: fc.jsonValue(),
        migrationRules: fc.array(fc.record({ name: fc.jsonValue() })),
      }),
      fc.jsonValue(),
    ),
    id: fc.oneof(fc.integer(), fc.jsonValue()),
    version: fc.oneof(fc.integer(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const version = fc.oneof(
  fc.constantFrom('latest', '-1', '0', '1', '2', '2147483648', 'x', '1.5', '%20'),
  fc.string({ maxLength: 12 }),
);
const query = fc.constantFrom(
  '',
  '?normalize=true',
  '?deleted=true',
  '?permanent=true',
  '?verbose=true',
  '?force=true',
  '?defaultToGlobal=true',
  '?normalize=maybe',
);

test('register, lookup and compatibility: any body gets a Confluent answer', async () => {
  await fc.assert(
    fc.asyncProperty(subject, registerBody, query, async (s, body, q) => {
      await expectConfluentAnswer('POST', `/subjects/${segment(s)}/versions${q}`, body);
      await expectConfluentAnswer('POST', `/subjects/${segment(s)}${q}`, body);
      await expectConfluentAnswer('POST', `/compatibility/subjects/${segment(s)}/versions/latest${q}`, body);
    }),
    { numRuns: RUNS },
  );
});

test('reads, deletes, config and mode with odd subjects, versions, ids and bodies', async () => {
  await fc.assert(
    fc.asyncProperty(subject, version, fc.jsonValue(), query, async (s, v, body, q) => {
      await expectConfluentAnswer('GET', `/subjects/${segment(s)}/versions/${segment(v)}${q}`);
      await expectConfluentAnswer('GET', `/subjects/${segment(s)}/versions/${segment(v)}/referencedby`);
      await expectConfluentAnswer('GET', `/schemas/ids/${segment(v)}${q}`);
      await expectConfluentAnswer('GET', `/schemas/guids/${segment(s)}`);
      await expectConfluentAnswer(
        'PUT',
        `/config/${segment(s)}`,
        typeof body === 'object' && body !== null && !Array.isArray(body) ? body : { compatibility: body },
      );
      await expectConfluentAnswer('PUT', `/mode/${segment(s)}${q}`, { mode: body });
      await expectConfluentAnswer('DELETE', `/subjects/${segment(s)}/versions/${segment(v)}${q}`);
      await expectConfluentAnswer('DELETE', `/subjects/${segment(s)}${q}`);
      await expectConfluentAnswer('DELETE', `/mode/${segment(s)}`);
    }),
    { numRuns: RUNS },
  );
});

test('bodies that are not JSON objects', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
      async (raw) => {
        await expectConfluentAnswer('POST', '/subjects/fuzz/versions', undefined, raw);
        await expectConfluentAnswer('PUT', '/config', undefined, raw);
        await expectConfluentAnswer('PUT', '/mode', undefined, raw);
      },
    ),
    { numRuns: RUNS },
  );
  // Nothing above may leave the registry read-only or importing.
  await registry.call('PUT', '/mode', { mode: 'READWRITE' });
  expect([...seen.keys()].every((status) => status < 500)).toBe(true);
});
