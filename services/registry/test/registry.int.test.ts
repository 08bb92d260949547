/**
 * The registry's REST API against Confluent's documented shapes: status codes, bodies and error codes
 * for each endpoint. The server runs in-process on a random port over a Postgres schema of its own.
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

const v1 = record('Thing', [{ name: 'id', type: 'string' }]);
const v2 = record('Thing', [
  { name: 'id', type: 'string' },
  { name: 'count', type: 'int', default: 0 },
]);
const breaking = record('Thing', [
  { name: 'id', type: 'string' },
  { name: 'size', type: 'int' },
]);

test('register, re-register, look up and read versions', async () => {
  const s = uniqueName('subj');
  expect(await call('GET', `/subjects/${s}/versions`)).toEqual({
    status: 404,
    body: { error_code: 40401, message: `Subject '${s}' not found.` },
  });
  const first = await call('POST', `/subjects/${s}/versions`, { schema: v1 });
  expect(first.status).toBe(200);
  const id1 = (first.body as { id: number }).id;
  // Today's Confluent answers the registered schema in full: id, version, GUID and the schema as sent.
  expect(first.body).toEqual({
    id: expect.any(Number),
    version: 1,
    guid: expect.stringMatching(/^[0-9a-f-]{36}$/),
    schema: v1,
  });
  // The same schema again, with other whitespace: same id, no new version.
  expect(
    await call('POST', `/subjects/${s}/versions`, { schema: JSON.stringify(JSON.parse(v1), null, 2) }),
  ).toMatchObject({
    status: 200,
    body: { id: id1, version: 1, schema: v1 },
  });
  const second = await call('POST', `/subjects/${s}/versions`, { schema: v2, schemaType: 'AVRO' });
  const id2 = (second.body as { id: number }).id;
  expect(id2).not.toBe(id1);

  expect(await call('GET', `/subjects/${s}/versions`)).toEqual({ status: 200, body: [1, 2] });
  const latest = await call('GET', `/subjects/${s}/versions/latest`);
  expect(latest).toEqual({
    status: 200,
    body: { subject: s, id: id2, version: 2, guid: expect.any(String), schema: v2 },
  });
  expect(JSON.parse((latest.body as { schema: string }).schema)).toEqual(JSON.parse(v2));
  expect((await call('GET', `/subjects/${s}/versions/1`)).body).toMatchObject({ version: 1, id: id1 });
  expect((await call('GET', `/subjects/${s}/versions/-1`)).body).toMatchObject({ version: 2 });
  expect((await call('GET', `/subjects/${s}/versions/1/schema`)).body).toEqual(JSON.parse(v1));
  expect(await call('GET', `/subjects/${s}/versions/7`)).toEqual({
    status: 404,
    body: { error_code: 40402, message: 'Version 7 not found.' },
  });
  expect(await call('GET', `/subjects/${s}/versions/abc`)).toMatchObject({
    status: 422,
    body: { error_code: 42202 },
  });

  expect(await call('POST', `/subjects/${s}`, { schema: v1 })).toEqual({
    status: 200,
    body: { subject: s, id: id1, version: 1, guid: (first.body as { guid: string }).guid, schema: v1 },
  });
  expect(await call('POST', `/subjects/${s}`, { schema: breaking })).toEqual({
    status: 404,
    body: { error_code: 40403, message: 'Schema not found' },
  });
  expect((await call('POST', `/subjects/${uniqueName('none')}`, { schema: v1 })).body).toMatchObject({
    error_code: 40401,
  });

  const subjects = (await call('GET', '/subjects')).body as string[];
  expect(subjects).toContain(s);
});

test('schemas by id, and where they are used', async () => {
  const a = uniqueName('subj');
  const b = uniqueName('subj');
  const schema = record(uniqueName('Shared', '_'), [{ name: 'x', type: 'long' }]);
  const { id } = (await call('POST', `/subjects/${a}/versions`, { schema })).body as { id: number };
  // The same schema under a second subject gets the same id.
  expect((await call('POST', `/subjects/${b}/versions`, { schema })).body).toMatchObject({ id, version: 1 });
  expect(await call('GET', `/schemas/ids/${id}`)).toEqual({
    status: 200,
    body: { schema, guid: expect.any(String) },
  });
  expect(await call('GET', `/schemas/ids/${id}/versions`)).toEqual({
    status: 200,
    body: [
      { subject: a, version: 1 },
      { subject: b, version: 1 },
    ].sort((x, y) => (x.subject < y.subject ? -1 : 1)),
  });
  expect((await call('GET', `/schemas/ids/${id}/subjects`)).body).toEqual([a, b].sort());
  expect(await call('GET', '/schemas/ids/99999999')).toEqual({
    status: 404,
    body: { error_code: 40403, message: 'Schema 99999999 not found' },
  });
  expect(await call('GET', '/schemas/types')).toEqual({ status: 200, body: ['AVRO'] });
});

test('invalid schemas and malformed requests are refused with readable messages', async () => {
  const s = uniqueName('subj');
  const notJson = await call('POST', `/subjects/${s}/versions`, { schema: '{"type": "record",' });
  expect(notJson).toMatchObject({
    status: 422,
    body: { error_code: 42201, message: expect.stringMatching(/^Invalid schema: not valid JSON/) },
  });
  const notAvro = await call('POST', `/subjects/${s}/versions`, {
    schema: '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "strnig"}]}',
  });
  expect(notAvro).toMatchObject({
    status: 422,
    body: { error_code: 42201, message: expect.stringMatching(/^Invalid schema: .*strnig/) },
  });
  expect(await call('POST', `/subjects/${s}/versions`, {})).toMatchObject({
    status: 422,
    body: { error_code: 42201 },
  });
  expect(await call('POST', `/subjects/${s}/versions`, { schema: v1, schemaType: 'PROTOBUF' })).toMatchObject(
    {
      status: 422,
      body: { error_code: 42201 },
    },
  );
  expect(await call('POST', `/subjects/${s}/versions`, undefined, '{oops')).toMatchObject({
    status: 400,
    body: { error_code: 400, message: expect.stringMatching(/^Malformed JSON request body/) },
  });
  expect(await call('GET', '/no/such/path')).toEqual({
    status: 404,
    body: { error_code: 404, message: 'HTTP 404 Not Found' },
  });
  expect(await call('PATCH', '/subjects')).toEqual({
    status: 405,
    body: { error_code: 405, message: 'HTTP 405 Method Not Allowed' },
  });
  // Nothing was registered by any of these.
  expect((await call('GET', `/subjects/${s}/versions`)).status).toBe(404);
});

test('config: global and per subject, all seven modes, invalid level', async () => {
  const s = uniqueName('subj');
  expect(await call('GET', '/config')).toEqual({ status: 200, body: { compatibilityLevel: 'BACKWARD' } });
  expect(await call('GET', `/config/${s}`)).toEqual({
    status: 404,
    body: {
      error_code: 40408,
      message: `Subject '${s}' does not have subject-level compatibility configured`,
    },
  });
  expect(await call('GET', `/config/${s}?defaultToGlobal=true`)).toEqual({
    status: 200,
    body: { compatibilityLevel: 'BACKWARD' },
  });
  for (const mode of [
    'BACKWARD',
    'BACKWARD_TRANSITIVE',
    'FORWARD',
    'FORWARD_TRANSITIVE',
    'FULL',
    'FULL_TRANSITIVE',
    'NONE',
  ]) {
    expect(await call('PUT', `/config/${s}`, { compatibility: mode })).toEqual({
      status: 200,
      body: { compatibility: mode },
    });
    expect(await call('GET', `/config/${s}`)).toEqual({ status: 200, body: { compatibilityLevel: mode } });
  }
  expect(await call('PUT', `/config/${s}`, { compatibility: 'SIDEWAYS' })).toMatchObject({
    status: 422,
    body: { error_code: 42203, message: expect.stringContaining('Invalid compatibility level "SIDEWAYS"') },
  });
  expect(await call('DELETE', `/config/${s}`)).toEqual({ status: 200, body: { compatibilityLevel: 'NONE' } });
  expect((await call('GET', `/config/${s}`)).status).toBe(404);
});

test('incompatible registration is refused with 409 naming subject, version and field', async () => {
  const s = uniqueName('subj');
  await call('POST', `/subjects/${s}/versions`, { schema: v1 });
  const refused = await call('POST', `/subjects/${s}/versions`, { schema: breaking });
  expect(refused.status).toBe(409);
  expect(refused.body).toEqual({
    error_code: 409,
    message: expect.stringMatching(
      new RegExp(`subject "${s}".*version 1 \\(BACKWARD\\).*Thing\\.size: field "size" has no default`),
    ),
  });
  expect(await call('POST', `/compatibility/subjects/${s}/versions/latest`, { schema: breaking })).toEqual({
    status: 200,
    body: { is_compatible: false },
  });
  const verbose = await call('POST', `/compatibility/subjects/${s}/versions/latest?verbose=true`, {
    schema: breaking,
  });
  expect(verbose.body).toEqual({
    is_compatible: false,
    messages: [expect.stringMatching(new RegExp(`^subject "${s}" version 1 .*Thing\\.size`))],
  });
  expect(
    (await call('POST', `/compatibility/subjects/${s}/versions/1?verbose=true`, { schema: v2 })).body,
  ).toEqual({
    is_compatible: true,
    messages: [],
  });
  expect(
    (await call('POST', `/compatibility/subjects/${uniqueName('none')}/versions/latest`, { schema: v2 }))
      .body,
  ).toMatchObject({
    error_code: 40401,
  });
  expect(
    (await call('POST', `/compatibility/subjects/${uniqueName('none')}/versions`, { schema: v2 })).body,
  ).toEqual({
    is_compatible: true,
  });
});

test('soft and permanent delete, as in Confluent', async () => {
  const s = uniqueName('subj');
  await call('POST', `/subjects/${s}/versions`, { schema: v1 });
  await call('POST', `/subjects/${s}/versions`, { schema: v2 });

  // Permanent delete needs a soft delete first.
  expect(await call('DELETE', `/subjects/${s}/versions/1?permanent=true`)).toEqual({
    status: 404,
    body: {
      error_code: 40407,
      message: `Subject '${s}' Version 1 was not deleted first before being permanently deleted`,
    },
  });
  expect(await call('DELETE', `/subjects/${s}/versions/1`)).toEqual({ status: 200, body: 1 });
  expect(await call('DELETE', `/subjects/${s}/versions/1`)).toMatchObject({
    status: 404,
    body: { error_code: 40406 },
  });
  expect((await call('GET', `/subjects/${s}/versions`)).body).toEqual([2]);
  expect((await call('GET', `/subjects/${s}/versions?deleted=true`)).body).toEqual([1, 2]);
  expect((await call('GET', `/subjects/${s}/versions/1?deleted=true`)).body).toMatchObject({ version: 1 });
  expect(await call('DELETE', `/subjects/${s}/versions/1?permanent=true`)).toEqual({ status: 200, body: 1 });

  expect(await call('DELETE', `/subjects/${s}?permanent=true`)).toEqual({
    status: 404,
    body: {
      error_code: 40405,
      message: `Subject '${s}' was not deleted first before being permanently deleted`,
    },
  });
  const latestId = ((await call('GET', `/subjects/${s}/versions/2`)).body as { id: number }).id;
  expect(await call('DELETE', `/subjects/${s}`)).toEqual({ status: 200, body: [2] });
  expect(await call('DELETE', `/subjects/${s}`)).toMatchObject({ status: 404, body: { error_code: 40404 } });
  expect((await call('GET', '/subjects')).body).not.toContain(s);
  expect((await call('GET', '/subjects?deleted=true')).body).toContain(s);
  expect(await call('DELETE', `/subjects/${s}?permanent=true`)).toEqual({ status: 200, body: [2] });
  expect((await call('GET', `/subjects/${s}/versions?deleted=true`)).status).toBe(404);
  // The schema itself stays readable by id: records written with it must still decode.
  expect((await call('GET', `/schemas/ids/${latestId}`)).status).toBe(200);
  // After a soft delete, versions continue from the highest number ever used.
  const t = uniqueName('subj');
  await call('POST', `/subjects/${t}/versions`, { schema: v1 });
  await call('DELETE', `/subjects/${t}/versions/1`);
  await call('POST', `/subjects/${t}/versions`, { schema: v2 });
  expect((await call('GET', `/subjects/${t}/versions`)).body).toEqual([2]);
});
