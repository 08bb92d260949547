/**
 * Serde against the real registry and broker: @kafkajs/confluent-schema-registry registers, encodes,
 * decodes and hits compatibility errors; records Accord writes decode with any Confluent-wire-format reader.
 */

import { type DiscountApproved, referenceCatalog } from '@accord/reference';
import { AvroSerde, resolveConfig } from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Type } from 'avsc';

jest.setTimeout(60000);

const config = resolveConfig();
const ctx = new TestContext(config);
afterAll(() => ctx.cleanup());

const schemaOf = (name: string, fields: unknown[]) =>
  ({
    type: SchemaType.AVRO,
    schema: JSON.stringify({ type: 'record', name, namespace: 'test', fields }),
  }) as const;

test('the Confluent client registers, encodes, decodes and gets compatibility errors', async () => {
  const registry = new SchemaRegistry({ host: config.schemaRegistry.url });
  const subject = uniqueName('client');
  ctx.onCleanup(async () => {
    await fetch(`${config.schemaRegistry.url}/subjects/${subject}`, { method: 'DELETE' });
    await fetch(`${config.schemaRegistry.url}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
  });
  const v1 = schemaOf('Payment', [
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'long' },
  ]);
  const { id } = await registry.register(v1, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE });
  expect(await registry.getLatestSchemaId(subject)).toBe(id);
  expect(await registry.getRegistryIdBySchema(subject, v1)).toBe(id);

  const bytes = await registry.encode(id, { id: 'p1', cents: 1250 });
  expect(bytes[0]).toBe(0);
  expect(bytes.readUInt32BE(1)).toBe(id);
  expect(await registry.decode(bytes)).toEqual({ id: 'p1', cents: 1250 });

  // Same subject config again: accepted; a breaking change: refused by the registry with 409.
  const breaking = schemaOf('Payment', [
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'string' },
  ]);
  await expect(
    registry.register(breaking, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE }),
  ).rejects.toMatchObject({
    status: 409,
    message: expect.stringMatching(/incompatible.*Payment\.cents: type changed from long to string/),
  });
  // A client asking for another mode than the subject has is told so by the client library.
  await expect(registry.register(v1, { subject, compatibility: COMPATIBILITY.FULL })).rejects.toThrow(
    /Compatibility does not match the configuration \(FULL != BACKWARD_TRANSITIVE\)/,
  );
});

test('records written by AvroSerde decode with a plain kafkajs consumer, the registry and avsc', async () => {
  const serde = new AvroSerde({
    catalog: referenceCatalog,
    registryUrl: config.schemaRegistry.url,
    autoRegister: true,
  });
  const topic = await ctx.createTopic({ partitions: 1 });
  const value: DiscountApproved = {
    envelope: {
      eventId: uniqueName('evt'),
      eventType: 'accord.commerce.DiscountApproved',
      entityType: 'order',
      entityId: 'o-1',
      occurredAt: 1_700_000_000_000,
      producer: 'pricing-agent',
      causationId: null,
      correlationId: 'flow-1',
      contractVersions: ['available_item@2'],
    },
    orderId: 'o-1',
    percent: 20,
    approvedBy: 'pricing-agent',
  };
  const { buffer, schemaId } = await serde.encode('accord.commerce.DiscountApproved', value);
  const producer = ctx.kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'o-1', value: buffer }] });
  await producer.disconnect();

  const consumer = ctx.kafka.consumer({ groupId: ctx.group(), maxWaitTimeInMs: 200 });
  const seen: Buffer[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => void (message.value && seen.push(message.value)),
  });
  const raw = await eventually(() => seen[0], { what: 'the record' });
  await consumer.disconnect();

  expect(raw[0]).toBe(0);
  expect(raw.readUInt32BE(1)).toBe(schemaId);
  const response = await fetch(`${config.schemaRegistry.url}/schemas/ids/${schemaId}`);
  const { schema } = (await response.json()) as { schema: string };
  const decoded = Type.forSchema(JSON.parse(schema)).fromBuffer(raw.subarray(5));
  expect(JSON.parse(JSON.stringify(decoded))).toEqual(value);

  expect(await serde.decode(raw)).toEqual({
    schemaId,
    schemaName: 'accord.commerce.DiscountApproved',
    value: expect.objectContaining(value),
  });

  // The synchronous path publishers take once the id is known (the EventWriter) encodes the same bytes,
  // and an event past the encoder's 64 KiB scratch space grows it (the first encoding of a large one
  // returns it whole); a field avsc must name goes avsc's way, which throws.
  const fresh = new AvroSerde({ catalog: referenceCatalog, registryUrl: config.schemaRegistry.url });
  const { envelope, ...data } = value;
  const known = (d: Record<string, unknown>) =>
    fresh.encodeEventKnown('accord.commerce.DiscountApproved', envelope, d);
  expect(known(data)).toBeUndefined();
  await fresh.schemaId('accord.commerce.DiscountApproved');
  expect(known(data)).toEqual({ buffer, schemaId });
  const large = { ...data, approvedBy: 'a'.repeat(200_000) };
  const encoded = known(large);
  expect(encoded?.buffer.length).toBeGreaterThan(200_000);
  expect((await fresh.decode(encoded?.buffer as Buffer)).value).toEqual({ envelope, ...large });
  expect(known(data)).toEqual({ buffer, schemaId });
  expect(() => known({ ...data, percent: 'twenty' })).toThrow(
    expect.objectContaining({ code: 'SCHEMA_VALIDATION_FAILED', message: expect.stringMatching(/percent/) }),
  );
});

test('bad records are refused with a code that says why', async () => {
  const serde = new AvroSerde({
    catalog: referenceCatalog,
    registryUrl: config.schemaRegistry.url,
    autoRegister: true,
  });
  const { schemaId } = await serde.encode('accord.logs.RawLogLine', {
    envelope: {
      eventId: 'e',
      eventType: 'accord.logs.RawLogLine',
      entityType: 'log',
      entityId: 'svc',
      occurredAt: 1,
      producer: 'p',
    },
    service: 'svc',
    host: 'h',
    line: 'hello',
  });
  await expect(serde.decode(Buffer.from('{"not":"avro"}'))).rejects.toMatchObject({
    code: 'WIRE_FORMAT_INVALID',
  });
  const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2]);
  await expect(serde.decode(unknownId)).rejects.toMatchObject({
    code: 'SCHEMA_NOT_FOUND',
    message: expect.stringMatching(/^schema id 2147483632 is not in the registry/),
  });
  const header = Buffer.alloc(5);
  header.writeUInt32BE(schemaId, 1);
  await expect(serde.decode(Buffer.concat([header, Buffer.from([0xff, 0xff, 0xff])]))).rejects.toMatchObject({
    code: 'DECODE_FAILED',
    message: expect.stringContaining(`schema id ${schemaId} (accord.logs.RawLogLine)`),
  });
  // The synchronous path: nothing before the writer's schema is known, then the same answers as decode().
  const record = {
    envelope: {
      eventId: 'e2',
      eventType: 'accord.logs.RawLogLine',
      entityType: 'log',
      entityId: 'svc',
      occurredAt: 2,
      producer: 'p',
      causationId: null,
      correlationId: null,
      contractVersions: [],
    },
    service: 'svc',
    host: 'h',
    line: 'again',
  };
  const fresh = new AvroSerde({ catalog: referenceCatalog, registryUrl: config.schemaRegistry.url });
  const encoded = (await serde.encode('accord.logs.RawLogLine', record)).buffer;
  expect(fresh.decodeKnown(encoded)).toBeUndefined();
  const decoded = await fresh.decode(encoded);
  expect(fresh.decodeKnown(encoded)).toEqual(decoded);
  expect(decoded).toMatchObject({ schemaId, schemaName: 'accord.logs.RawLogLine', value: { line: 'again' } });
  expect(() => fresh.decodeKnown(Buffer.from('{"not":"avro"}'))).toThrow(
    expect.objectContaining({ code: 'WIRE_FORMAT_INVALID' }),
  );
  expect(() => fresh.decodeKnown(Buffer.concat([header, Buffer.from([0xff, 0xff, 0xff])]))).toThrow(
    expect.objectContaining({ code: 'DECODE_FAILED' }),
  );
  await expect(serde.encode('accord.logs.RawLogLine', { service: 1 } as never)).rejects.toMatchObject({
    code: 'SCHEMA_VALIDATION_FAILED',
    message: expect.stringContaining('service: expected "string", got 1'),
  });
});

test('an unreachable registry is a retriable error', async () => {
  const serde = new AvroSerde({ catalog: referenceCatalog, registryUrl: `http://127.0.0.1:1` });
  await expect(serde.schemaId('accord.logs.LogSummary')).rejects.toMatchObject({
    code: 'SCHEMA_REGISTRY_UNAVAILABLE',
    retriable: true,
  });
});
