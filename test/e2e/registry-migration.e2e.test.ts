/**
 * `accord schemas export` / `import`, registry to registry, as a user migrates (here between two Accord
 * registries, each on its own Postgres schema; either end may be Confluent's): ids, versions, schema texts,
 * references, metadata and configs arrive unchanged, so records written against the source decode against
 * the target; the target's mode is restored; a second import changes nothing; a target that already holds
 * subjects needs --force.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AvroSerde } from '@accord/sdk';
import { uniqueName } from '@accord/testing';
import { record, startTestRegistry, type TestRegistry } from '../../services/registry/test/registry-server';
import { accord } from './cli';

jest.setTimeout(120000);

let source: TestRegistry;
let target: TestRegistry;
const dir = mkdtempSync(join(tmpdir(), 'accord-export-'));
beforeAll(async () => {
  source = await startTestRegistry();
  target = await startTestRegistry();
});
afterAll(async () => {
  await source.close();
  await target.close();
});
type Body = Record<string, unknown>;

test('export from one registry, import into another: ids, versions, references, metadata and configs kept', async () => {
  const shared = uniqueName('shared');
  const orders = uniqueName('orders');
  const money = JSON.stringify({
    type: 'record',
    name: 'Money',
    namespace: 'mig',
    fields: [{ name: 'cents', type: 'long' }],
  });
  // Ids on the source are moved apart from the target's own by a registration the target never sees.
  await source.call('POST', `/subjects/${uniqueName('noise')}/versions`, {
    schema: record(uniqueName('Noise', '_'), []),
  });
  const m = (await source.call('POST', `/subjects/${shared}/versions`, { schema: money })).body as Body;
  const references = [{ name: 'mig.Money', subject: shared, version: 1 }];
  const name = uniqueName('Order', '_');
  const v1 = record(name, [{ name: 'total', type: 'mig.Money' }]);
  const v2 = record(name, [
    { name: 'total', type: 'mig.Money' },
    { name: 'note', type: ['null', 'string'], default: null },
  ]);
  const o1 = (await source.call('POST', `/subjects/${orders}/versions`, { schema: v1, references }))
    .body as Body;
  const o2 = (
    await source.call('POST', `/subjects/${orders}/versions`, {
      schema: v2,
      references,
      metadata: { properties: { owner: 'orders' } },
    })
  ).body as Body;
  await source.call('PUT', `/config/${orders}`, { compatibility: 'FULL_TRANSITIVE', normalize: false });

  const file = join(dir, 'export.json');
  const exported = await accord(['schemas', 'export', '--registry', source.url, '--out', file]);
  expect(exported).toMatchObject({ code: 0, stdout: '' });
  expect(exported.stderr).toMatch(/exported 3 subject\(s\), 4 version\(s\)/);
  expect(statSync(file).mode & 0o777).toBe(0o600);

  const imported = await accord(['schemas', 'import', file, '--registry', target.url]);
  expect(imported.stderr).toContain('imported 4/4 version(s)');
  expect(imported).toMatchObject({ code: 0 });
  expect(imported.stdout).toContain('imported 4 version(s) of 3 subject(s)');

  for (const [subject, version, want] of [
    [shared, 1, m],
    [orders, 1, o1],
    [orders, 2, o2],
  ] as const) {
    const got = (await target.call('GET', `/subjects/${subject}/versions/${version}`)).body as Body;
    expect(got).toMatchObject({ id: want.id, version, schema: want.schema });
  }
  expect(((await target.call('GET', `/subjects/${orders}/versions/2`)).body as Body).metadata).toEqual({
    properties: { owner: 'orders' },
  });
  expect((await target.call('GET', `/subjects/${shared}/versions/1/referencedby`)).body).toEqual([
    o1.id,
    o2.id,
  ]);
  expect((await target.call('GET', `/config/${orders}`)).body).toMatchObject({
    compatibilityLevel: 'FULL_TRANSITIVE',
  });
  expect((await target.call('GET', '/mode')).body).toEqual({ mode: 'READWRITE' });
  // New schemas on the target never take an imported id.
  const fresh = (
    await target.call('POST', `/subjects/${uniqueName('fresh')}/versions`, {
      schema: record(uniqueName('Fresh', '_'), []),
    })
  ).body as Body;
  expect(fresh.id).toBeGreaterThan(o2.id as number);

  // A record written against the source decodes against the target (same id, reference resolved).
  const { SchemaRegistry } = await import('@kafkajs/confluent-schema-registry');
  const bytes = await new SchemaRegistry({ host: source.url }).encode(o1.id as number, {
    total: { cents: 99 },
  });
  expect((await new AvroSerde({ registryUrl: target.url }).decode(bytes)).value).toEqual({
    total: { cents: 99 },
  });

  // Again: nothing new; into a registry that holds subjects, only with --force.
  const again = await accord(['schemas', 'import', file, '--registry', target.url, '--force', '--json']);
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toEqual({ imported: 0, existing: 4, subjects: 3 });
  const refused = await accord(['schemas', 'import', file, '--registry', target.url]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('Cannot import since found existing subjects');
  expect((await target.call('GET', '/mode')).body).toEqual({ mode: 'READWRITE' });

  const bad = await accord(['schemas', 'import', join(dir, 'missing.json'), '--registry', target.url]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain(`cannot read ${join(dir, 'missing.json')} as an export`);
});
