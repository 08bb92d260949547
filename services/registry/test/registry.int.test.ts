/**
 * The registry's REST API against Confluent's documented shapes: status codes, bodies and error codes
 * for each endpoint. The server runs in-process on a random port over a Postgres schema of its own.
 */
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createPgPool, resolveConfig } from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
import { TestContext, uniqueName } from '@accord/testing';
import type { Pool } from 'pg';
import { createRegistryServer } from '../src/http';
import { RegistryStore } from '../src/store';

jest.setTimeout(60000);

const CT = 'application/vnd.schemaregistry.v1+json';
const ctx = new TestContext();
let pool: Pool;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  const schema = uniqueName('t_schema', '_');
  const config = resolveConfig();
  await migrate(config.postgres.url, resolve(__dirname, '../../../infra/postgres/migrations'), { schema });
  ctx.onCleanup(async () => {
    await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  });
  pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 30 });
  const server = createRegistryServer({ store: new RegistryStore(pool) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await pool.end();
  };
});
afterAll(async () => {
  await close();
  await ctx.cleanup();
});

async function call(method: string, path: string, body?: unknown, raw?: string) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': CT },
    ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(response.headers.get('content-type')).toBe(CT);
  return { status: response.status, body: (await response.json()) as unknown };
}

const record = (name: string, fields: unknown[]) =>
  JSON.stringify({ type: 'record', name, namespace: 't', fields });
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
  expect(first.body).toEqual({ id: expect.any(Number) });
  // The same schema again, with other whitespace: same id, no new version.
  expect(
    await call('POST', `/subjects/${s}/versions`, { schema: JSON.stringify(JSON.parse(v1), null, 2) }),
  ).toEqual({
    status: 200,
    body: { id: id1 },
  });
  const second = await call('POST', `/subjects/${s}/versions`, { schema: v2, schemaType: 'AVRO' });
  const id2 = (second.body as { id: number }).id;
  expect(id2).not.toBe(id1);

  expect(await call('GET', `/subjects/${s}/versions`)).toEqual({ status: 200, body: [1, 2] });
  const latest = await call('GET', `/subjects/${s}/versions/latest`);
  expect(latest).toEqual({
    status: 200,
    body: { subject: s, id: id2, version: 2, schema: expect.any(String) },
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
    body: { subject: s, id: id1, version: 1, schema: expect.any(String) },
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
  expect((await call('POST', `/subjects/${b}/versions`, { schema })).body).toEqual({ id });
  expect(await call('GET', `/schemas/ids/${id}`)).toEqual({
    status: 200,
    body: { schema: expect.any(String) },
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
