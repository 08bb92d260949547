/**
 * The registry under concurrency, and schema evolution through every compatibility mode, as Confluent
 * documents the outcomes.
 */
import { uniqueName } from '@accord/testing';
import { record, startTestRegistry, type TestRegistry } from './registry-server';

jest.setTimeout(60000);

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry.close();
});
const call: TestRegistry['call'] = (...args) => registry.call(...args);

test('20 concurrent clients registering the same schema get one id and one version', async () => {
  const s = uniqueName('subj');
  const schema = record(uniqueName('Race', '_'), [{ name: 'x', type: 'string' }]);
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => call('POST', `/subjects/${s}/versions`, { schema })),
  );
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
  expect(new Set(answers.map((a) => (a.body as { id: number }).id)).size).toBe(1);
  expect((await call('GET', `/subjects/${s}/versions`)).body).toEqual([1]);
});

test('concurrent registrations of different compatible schemas leave no gap in versions', async () => {
  const s = uniqueName('subj');
  await call('PUT', `/config/${s}`, { compatibility: 'NONE' });
  const schemas = Array.from({ length: 12 }, (_, i) => record('Many', [{ name: `f${i}`, type: 'int' }]));
  const answers = await Promise.all(
    schemas.map((schema) => call('POST', `/subjects/${s}/versions`, { schema })),
  );
  expect(answers.every((a) => a.status === 200)).toBe(true);
  expect((await call('GET', `/subjects/${s}/versions`)).body).toEqual(
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
});

describe('evolving a schema through every mode gets the documented outcome', () => {
  const f = (name: string, type: unknown, extra: Record<string, unknown> = {}) => ({ name, type, ...extra });
  const order = (fields: unknown[]) => record('Order', fields);
  const v1s = order([f('id', 'string'), f('note', 'string', { default: '' })]);
  const v2s = order([
    f('id', 'string'),
    f('note', 'string', { default: '' }),
    f('qty', 'int', { default: 1 }),
  ]);
  const addOptional = order([
    f('id', 'string'),
    f('note', 'string', { default: '' }),
    f('qty', 'int', { default: 1 }),
    f('tag', 'string', { default: '' }),
  ]);
  const addRequired = order([
    f('id', 'string'),
    f('note', 'string', { default: '' }),
    f('qty', 'int', { default: 1 }),
    f('sku', 'string'),
  ]);
  const dropId = order([f('note', 'string', { default: '' }), f('qty', 'int', { default: 1 })]);
  const dropNote = order([f('id', 'string'), f('qty', 'int', { default: 1 })]);
  const readsOnlyV2 = order([f('id', 'string'), f('qty', 'int')]);
  // mode → [a compatible next version, an incompatible one]; "documented" = Confluent's definitions.
  const table: [string, string, string][] = [
    ['BACKWARD', dropNote, addRequired],
    ['BACKWARD_TRANSITIVE', addOptional, readsOnlyV2],
    ['FORWARD', addRequired, dropId],
    ['FORWARD_TRANSITIVE', addRequired, order([f('note', 'string', { default: '' })])],
    ['FULL', addOptional, addRequired],
    ['FULL_TRANSITIVE', addOptional, dropId],
    ['NONE', dropId, ''],
  ];
  test.each(table)('%s', async (mode, ok, bad) => {
    const s = uniqueName('evolve');
    await call('PUT', `/config/${s}`, { compatibility: 'NONE' });
    await call('POST', `/subjects/${s}/versions`, { schema: v1s });
    await call('POST', `/subjects/${s}/versions`, { schema: v2s });
    await call('PUT', `/config/${s}`, { compatibility: mode });
    if (bad) {
      const refused = await call('POST', `/subjects/${s}/versions`, { schema: bad });
      expect(refused).toMatchObject({
        status: 409,
        body: { error_code: 409, message: expect.stringContaining(`(${mode})`) },
      });
    }
    expect(await call('POST', `/subjects/${s}/versions`, { schema: ok })).toMatchObject({ status: 200 });
    expect((await call('GET', `/subjects/${s}/versions`)).body).toEqual([1, 2, 3]);
  });
});
