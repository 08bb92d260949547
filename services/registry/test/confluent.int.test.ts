/**
 * What today's Confluent registry does beyond the basics, on ours: the schema as registered (canonical
 * only with normalize), metadata and rule sets (stored, versioned, returned; other metadata is another
 * version), schema references (resolved, checked, referenced-by, protected from deletion), a writable
 * mode (READONLY refuses writes; IMPORT keeps the caller's ids and versions), config beyond the level
 * (normalize, compatibility groups, default and override metadata), contexts, GUIDs, unsupported types.
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
type Body = Record<string, unknown>;

test('the schema comes back as registered; normalize (asked or configured) stores the canonical form', async () => {
  const s = uniqueName('subj');
  // Keys in an unusual order and spaces: kept as sent.
  const sent = `{"fields": [{"type": "string", "name": "id"}], "name": "AsSent", "type": "record", "namespace": "t"}`;
  const first = (await call('POST', `/subjects/${s}/versions`, { schema: sent })).body as Body;
  expect(first).toMatchObject({ version: 1, schema: sent });
  expect(((await call('GET', `/subjects/${s}/versions/1`)).body as Body).schema).toBe(sent);
  expect(((await call('GET', `/schemas/ids/${first.id}`)).body as Body).schema).toBe(sent);
  // The same schema with other key order is the same schema (same id and version).
  const reordered = JSON.stringify({
    type: 'record',
    name: 'AsSent',
    namespace: 't',
    fields: [{ name: 'id', type: 'string' }],
  });
  expect((await call('POST', `/subjects/${s}?normalize=true`, { schema: reordered })).body).toMatchObject({
    id: first.id,
    version: 1,
  });

  const n = uniqueName('subj');
  const other = `{"name": "Normal", "type": "record", "fields": [{"type": "long", "name": "n"}]}`;
  const normalized = (await call('POST', `/subjects/${n}/versions?normalize=true`, { schema: other }))
    .body as Body;
  expect(normalized.schema).toBe('{"fields":[{"name":"n","type":"long"}],"name":"Normal","type":"record"}');
  const c = uniqueName('subj');
  expect((await call('PUT', `/config/${c}`, { normalize: true })).body).toEqual({ normalize: true });
  expect((await call('GET', `/config/${c}`)).body).toEqual({ normalize: true });
  expect((await call('GET', `/config/${c}?defaultToGlobal=true`)).body).toMatchObject({
    compatibilityLevel: 'BACKWARD',
    normalize: true,
  });
  const configured = (await call('POST', `/subjects/${c}/versions`, { schema: other })).body as Body;
  expect(configured.schema).toBe(normalized.schema);
});

test('metadata and rule sets are stored, versioned and returned; other metadata is a new version', async () => {
  const s = uniqueName('subj');
  const schema = record(uniqueName('Meta', '_'), [{ name: 'email', type: 'string' }]);
  const metadata = {
    properties: { owner: 'growth', major: '1' },
    tags: { 'Meta.email': ['PII'] },
    sensitive: ['owner'],
  };
  const ruleSet = {
    domainRules: [
      {
        name: 'checkEmail',
        kind: 'CONDITION',
        mode: 'WRITE',
        type: 'CEL',
        expr: "message.email.contains('@')",
      },
    ],
  };
  const v1 = (await call('POST', `/subjects/${s}/versions`, { schema, metadata, ruleSet })).body as Body;
  expect(v1).toMatchObject({ version: 1, metadata, ruleSet });
  expect((await call('GET', `/subjects/${s}/versions/1`)).body).toMatchObject({ metadata, ruleSet });
  expect((await call('GET', `/schemas/ids/${v1.id}`)).body).toMatchObject({ schema, metadata, ruleSet });
  // The same schema, the same metadata: nothing new. Without metadata: inherits the latest version's.
  expect((await call('POST', `/subjects/${s}/versions`, { schema, metadata, ruleSet })).body).toMatchObject({
    id: v1.id,
    version: 1,
  });
  expect((await call('POST', `/subjects/${s}/versions`, { schema })).body).toMatchObject({
    id: v1.id,
    version: 1,
  });
  // Other metadata: a new version (and id) of the same schema text.
  const v2 = (
    await call('POST', `/subjects/${s}/versions`, { schema, metadata: { properties: { owner: 'risk' } } })
  ).body as Body;
  expect(v2).toMatchObject({ version: 2, metadata: { properties: { owner: 'risk' } } });
  expect(v2.id).not.toBe(v1.id);
  // Lookup: by schema (the latest holding it), or by schema and metadata.
  expect((await call('POST', `/subjects/${s}`, { schema })).body).toMatchObject({ version: 2 });
  expect((await call('POST', `/subjects/${s}`, { schema, metadata })).body).toMatchObject({ version: 1 });
  expect((await call('POST', `/subjects/${s}/versions`, { schema, metadata: 'owner=x' })).body).toMatchObject(
    { error_code: 42201 },
  );
});

test('config defaults and overrides shape metadata; a compatibility group checks only its own versions', async () => {
  const s = uniqueName('subj');
  await call('PUT', `/config/${s}`, {
    compatibilityGroup: 'major',
    defaultMetadata: { properties: { major: '1', owner: 'orders' } },
    overrideMetadata: { properties: { owner: 'orders-team' } },
  });
  const name = uniqueName('Grouped', '_');
  const first = (
    await call('POST', `/subjects/${s}/versions`, { schema: record(name, [{ name: 'a', type: 'string' }]) })
  ).body as Body;
  expect(first.metadata).toEqual({ properties: { major: '1', owner: 'orders-team' } });
  const breaking = record(name, [{ name: 'b', type: 'int' }]);
  expect((await call('POST', `/subjects/${s}/versions`, { schema: breaking })).status).toBe(409);
  // A new major: the breaking change is checked against major 2 only (none yet).
  const next = (
    await call('POST', `/subjects/${s}/versions`, {
      schema: breaking,
      metadata: { properties: { major: '2' } },
    })
  ).body as Body;
  expect(next).toMatchObject({ version: 2, metadata: { properties: { major: '2', owner: 'orders-team' } } });
  expect((await call('GET', `/config/${s}`)).body).toEqual({
    compatibilityGroup: 'major',
    defaultMetadata: { properties: { major: '1', owner: 'orders' } },
    overrideMetadata: { properties: { owner: 'orders-team' } },
  });
  expect((await call('PUT', `/config/${s}`, { normalize: 'yes' })).body).toMatchObject({ error_code: 42203 });
  expect((await call('DELETE', `/config/${s}`)).status).toBe(200);
  expect((await call('GET', `/config/${s}`)).body).toMatchObject({ error_code: 40408 });
});

test('references: resolved when registering and checking, listed as referenced-by, protected from deletion', async () => {
  const common = uniqueName('common');
  const orders = uniqueName('orders');
  const money = JSON.stringify({
    type: 'record',
    name: 'Money',
    namespace: 'shared',
    fields: [{ name: 'cents', type: 'long' }],
  });
  const m = (await call('POST', `/subjects/${common}/versions`, { schema: money })).body as Body;
  const order = record(uniqueName('Order', '_'), [{ name: 'total', type: 'shared.Money' }]);
  const references = [{ name: 'shared.Money', subject: common, version: 1 }];
  // Without its reference the schema names an unknown type.
  expect((await call('POST', `/subjects/${orders}/versions`, { schema: order })).body).toMatchObject({
    error_code: 42201,
  });
  expect(
    (
      await call('POST', `/subjects/${orders}/versions`, {
        schema: order,
        references: [{ name: 'x', subject: common, version: 9 }],
      })
    ).body,
  ).toMatchObject({
    error_code: 42201,
    message: expect.stringContaining(`subject '${common}' version 9 not found`),
  });
  const o = (await call('POST', `/subjects/${orders}/versions`, { schema: order, references })).body as Body;
  expect(o).toMatchObject({ version: 1, references });
  expect((await call('GET', `/schemas/ids/${o.id}`)).body).toMatchObject({ schema: order, references });
  expect((await call('POST', `/subjects/${orders}`, { schema: order, references })).body).toMatchObject({
    id: o.id,
  });
  expect((await call('GET', `/subjects/${common}/versions/1/referencedby`)).body).toEqual([o.id]);
  // Compatibility is checked with the references resolved.
  const evolved = JSON.parse(order);
  evolved.fields.push({ name: 'note', type: ['null', 'string'], default: null });
  expect(
    (
      await call('POST', `/compatibility/subjects/${orders}/versions/latest`, {
        schema: JSON.stringify(evolved),
        references,
      })
    ).body,
  ).toEqual({ is_compatible: true });
  // What is referenced cannot be deleted.
  expect((await call('DELETE', `/subjects/${common}/versions/1`)).body).toEqual({
    error_code: 42206,
    message: `One or more references exist to the schema {subject=${common},version=1}`,
  });
  expect((await call('DELETE', `/subjects/${common}`)).body).toMatchObject({ error_code: 42206 });
  expect(m.id).toBeGreaterThan(0);
});

test('mode: READONLY refuses writes; IMPORT keeps the given ids and versions', async () => {
  expect((await call('GET', '/mode')).body).toEqual({ mode: 'READWRITE' });
  const s = uniqueName('subj');
  const schema = record(uniqueName('Moded', '_'), [{ name: 'a', type: 'string' }]);
  expect((await call('PUT', `/mode/${s}`, { mode: 'READONLY' })).body).toEqual({ mode: 'READONLY' });
  expect((await call('GET', `/mode/${s}`)).body).toEqual({ mode: 'READONLY' });
  expect((await call('POST', `/subjects/${s}/versions`, { schema })).body).toEqual({
    error_code: 42205,
    message: `Subject ${s} is in read-only mode`,
  });
  expect((await call('DELETE', `/mode/${s}`)).body).toEqual({ mode: 'READONLY' });
  expect((await call('GET', `/mode/${s}`)).body).toMatchObject({ error_code: 40409 });
  expect((await call('GET', `/mode/${s}?defaultToGlobal=true`)).body).toEqual({ mode: 'READWRITE' });
  expect((await call('PUT', '/mode', { mode: 'SOMETIMES' })).body).toMatchObject({ error_code: 42204 });
  // A global IMPORT is refused while subjects exist, unless forced.
  await call('POST', `/subjects/${uniqueName('subj')}/versions`, { schema });
  expect((await call('PUT', '/mode', { mode: 'IMPORT' })).body).toMatchObject({ error_code: 42205 });

  const imported = uniqueName('subj');
  expect((await call('POST', `/subjects/${imported}/versions`, { schema, id: 70001 })).body).toMatchObject({
    error_code: 42205,
  });
  expect((await call('PUT', `/mode/${imported}`, { mode: 'IMPORT' })).body).toEqual({ mode: 'IMPORT' });
  const other = record(uniqueName('Imported', '_'), [{ name: 'b', type: 'long' }]);
  expect(
    (await call('POST', `/subjects/${imported}/versions`, { schema: other, id: 70001, version: 3 })).body,
  ).toMatchObject({ id: 70001, version: 3 });
  expect((await call('GET', `/subjects/${imported}/versions`)).body).toEqual([3]);
  // An id taken by another schema is refused; the next registrations never get an imported id.
  const third = record(uniqueName('Imported', '_'), [{ name: 'c', type: 'long' }]);
  expect(
    (await call('POST', `/subjects/${imported}/versions`, { schema: third, id: 70001 })).body,
  ).toMatchObject({ error_code: 42207 });
  await call('PUT', `/mode/${imported}`, { mode: 'READWRITE' });
  const after = (await call('POST', `/subjects/${uniqueName('subj')}/versions`, { schema: third }))
    .body as Body;
  expect(after.id).toBeGreaterThan(70001);
});

test('contexts, GUIDs, subject prefixes and unsupported schema types', async () => {
  expect((await call('GET', '/contexts')).body).toEqual(['.']);
  const s = uniqueName('guided');
  const schema = record(uniqueName('Guid', '_'), [{ name: 'a', type: 'string' }]);
  const r = (await call('POST', `/subjects/${s}/versions`, { schema })).body as Body;
  expect((await call('GET', `/schemas/guids/${r.guid}`)).body).toMatchObject({ id: r.id, schema });
  expect((await call('GET', '/schemas/guids/00000000-0000-0000-0000-000000000000')).body).toMatchObject({
    error_code: 40403,
  });
  expect((await call('GET', `/subjects?subjectPrefix=${s.slice(0, -2)}`)).body).toEqual([s]);
  // Found by the fuzz test: ids past 32 bits and NUL characters reached Postgres (HTTP 500).
  expect((await call('GET', '/schemas/ids/2147483648')).body).toEqual({
    error_code: 40403,
    message: 'Schema 2147483648 not found',
  });
  expect((await call('POST', '/subjects/a%00b/versions', { schema })).body).toMatchObject({
    error_code: 42208,
  });
  expect((await call('GET', '/subjects/a%00b/versions')).body).toMatchObject({ error_code: 40401 });
  expect(
    (await call('POST', `/subjects/${s}/versions`, { schema, metadata: { properties: { k: 'a\u0000b' } } }))
      .body,
  ).toMatchObject({
    error_code: 42201,
    message: 'Invalid schema: metadata.properties.k contains a NUL character',
  });
  for (const schemaType of ['JSON', 'PROTOBUF'])
    expect((await call('POST', `/subjects/${s}/versions`, { schema: '{}', schemaType })).body).toEqual({
      error_code: 42201,
      message: `Invalid schema type "${schemaType}": this registry stores AVRO schemas only (JSON and PROTOBUF are not supported)`,
    });
});
