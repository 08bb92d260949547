/**
 * Real clients against Accord's registry, as users swap registries: Confluent's own JavaScript client
 * (@confluentinc/schemaregistry, with its Avro serde) and @kafkajs/confluent-schema-registry. Register,
 * look up, versions, compatibility, config, deletes, references, metadata and rules through the clients;
 * and through Kafka both ways: an event Accord publishes decodes with Confluent's AvroDeserializer, and a
 * record Confluent's AvroSerializer produced is consumed by an Accord pipeline.
 */

import { referenceCatalog } from '@accord/reference';
import {
  AvroSerde,
  createKafka,
  createPipeline,
  EventPublisher,
  type Pipeline,
  resolveConfig,
} from '@accord/sdk';
import { eventually, TestContext, uniqueName } from '@accord/testing';
import {
  AvroDeserializer,
  AvroSerializer,
  SchemaRegistryClient,
  SerdeType,
} from '@confluentinc/schemaregistry';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { record, startTestRegistry, type TestRegistry } from './registry-server';

jest.setTimeout(120000);

let registry: TestRegistry;
let confluent: SchemaRegistryClient;
const ctx = new TestContext();
const stops: (() => Promise<void>)[] = [];
beforeAll(async () => {
  registry = await startTestRegistry();
  confluent = new SchemaRegistryClient({ baseURLs: [registry.url], cacheCapacity: 100 });
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await registry.close();
  await ctx.cleanup();
});

test("Confluent's client: register, look up, versions, compatibility, config, references, metadata, deletes", async () => {
  const s = uniqueName('subj');
  const name = uniqueName('Client', '_');
  const v1 = record(name, [{ name: 'a', type: 'string' }]);
  const registered = await confluent.registerFullResponse(s, { schemaType: 'AVRO', schema: v1 });
  expect(registered).toMatchObject({ id: expect.any(Number), version: 1, schema: v1 });
  expect(await confluent.getId(s, { schemaType: 'AVRO', schema: v1 })).toBe(registered.id);
  expect(await confluent.getVersion(s, { schemaType: 'AVRO', schema: v1 })).toBe(1);
  const v2 = record(name, [
    { name: 'a', type: 'string' },
    { name: 'b', type: ['null', 'long'], default: null },
  ]);
  expect(await confluent.testSubjectCompatibility(s, { schemaType: 'AVRO', schema: v2 })).toBe(true);
  expect(
    await confluent.testSubjectCompatibility(s, {
      schemaType: 'AVRO',
      schema: record(name, [{ name: 'c', type: 'int' }]),
    }),
  ).toBe(false);
  const metadata = { properties: { owner: 'orders' } };
  const second = await confluent.registerFullResponse(s, { schemaType: 'AVRO', schema: v2, metadata });
  expect(second).toMatchObject({ version: 2, metadata });
  expect(await confluent.getLatestSchemaMetadata(s)).toMatchObject({
    version: 2,
    id: second.id,
    schema: v2,
    metadata,
  });
  expect(await confluent.getSchemaMetadata(s, 1)).toMatchObject({
    version: 1,
    id: registered.id,
    schema: v1,
  });
  expect(await confluent.getAllVersions(s)).toEqual([1, 2]);
  expect(await confluent.getBySubjectAndId(s, second.id as number)).toMatchObject({ schema: v2, metadata });

  expect(
    await confluent.updateConfig(s, { compatibilityLevel: 'FULL' as never, normalize: true }),
  ).toMatchObject({
    normalize: true,
  });
  expect(await confluent.getConfig(s)).toMatchObject({ compatibilityLevel: 'FULL', normalize: true });
  expect(await confluent.getCompatibility(s)).toBe('FULL');

  // References: a shared type in its own subject.
  const shared = uniqueName('shared');
  const money = JSON.stringify({
    type: 'record',
    name: 'Money',
    namespace: 'interop',
    fields: [{ name: 'cents', type: 'long' }],
  });
  await confluent.register(shared, { schemaType: 'AVRO', schema: money });
  const priced = record(uniqueName('Priced', '_'), [{ name: 'price', type: 'interop.Money' }]);
  const references = [{ name: 'interop.Money', subject: shared, version: 1 }];
  const withRef = await confluent.registerFullResponse(`${s}-priced`, {
    schemaType: 'AVRO',
    schema: priced,
    references,
  });
  expect(withRef).toMatchObject({ version: 1, references });

  expect(await confluent.deleteSubjectVersion(s, 2)).toBe(2);
  expect(await confluent.deleteSubject(s)).toEqual([1]);
  expect(await confluent.deleteSubject(s, true)).toEqual([1, 2]);
  await expect(confluent.getAllVersions(s)).rejects.toMatchObject({ status: 404, errorCode: 40401 });
});

test('@kafkajs/confluent-schema-registry: register, references, encode and decode', async () => {
  const kafkajsRegistry = new SchemaRegistry({ host: registry.url });
  const shared = uniqueName('shared');
  const money = JSON.stringify({
    type: 'record',
    name: 'Cash',
    namespace: 'kjs',
    fields: [{ name: 'cents', type: 'long' }],
  });
  await kafkajsRegistry.register({ type: SchemaType.AVRO, schema: money }, { subject: shared });
  const order = record(uniqueName('KjsOrder', '_'), [{ name: 'total', type: 'kjs.Cash' }]);
  const orders = uniqueName('orders');
  const { id } = await kafkajsRegistry.register(
    { type: SchemaType.AVRO, schema: order, references: [{ name: 'kjs.Cash', subject: shared, version: 1 }] },
    { subject: orders },
  );
  // Its lookup sends no references (a client limitation): looked up here is the referenced schema itself.
  const cash = await kafkajsRegistry.getLatestSchemaId(shared);
  expect(await kafkajsRegistry.getRegistryIdBySchema(shared, { type: SchemaType.AVRO, schema: money })).toBe(
    cash,
  );
  expect(await kafkajsRegistry.getLatestSchemaId(orders)).toBe(id);
  // register with a compatibility sets the subject's level first, as the client does against Confluent.
  const strict = uniqueName('strict');
  await kafkajsRegistry.register(
    { type: SchemaType.AVRO, schema: record(uniqueName('Strict', '_'), [{ name: 'a', type: 'string' }]) },
    { subject: strict, compatibility: COMPATIBILITY.FULL_TRANSITIVE },
  );
  expect((await registry.call('GET', `/config/${strict}`)).body).toEqual({
    compatibilityLevel: 'FULL_TRANSITIVE',
  });
  const encoded = await kafkajsRegistry.encode(id, { total: { cents: 1250 } });
  expect(await kafkajsRegistry.decode(encoded)).toEqual({ total: { cents: 1250 } });
  // Accord's serde reads it too, its reference resolved through the registry.
  const serde = new AvroSerde({ registryUrl: registry.url });
  expect((await serde.decode(encoded)).value).toEqual({ total: { cents: 1250 } });
  // A schema not registered is a registry error with Confluent's code, not "unreachable".
  await expect(
    new AvroSerde({ registryUrl: registry.url, catalog: referenceCatalog }).schemaId(
      'accord.commerce.RiskFlagged',
    ),
  ).rejects.toMatchObject({
    name: 'RegistryError',
    errorCode: 40403,
  });
});

test("through Kafka: Accord's events decode with Confluent's deserializer, Confluent's records feed an Accord pipeline", async () => {
  const config = resolveConfig({ schemaRegistryUrl: registry.url });
  const topic = await ctx.createTopic({ partitions: 1 });
  const publisher = new EventPublisher({
    catalog: referenceCatalog,
    config,
    producer: 'interop',
    autoRegister: true,
  });
  stops.push(() => publisher.close());
  const published = await publisher.publish(
    'DiscountApproved',
    { orderId: 'o-1', percent: 10, approvedBy: 'pricing' },
    { entityId: 'o-1', topic },
  );

  // Accord → Confluent: read the raw record and decode it with Confluent's deserializer.
  const kafka = createKafka(config);
  const consumer = kafka.consumer({ groupId: ctx.group() });
  stops.push(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const raw: Buffer[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value) raw.push(message.value);
    },
  });
  await eventually(async () => raw.length === 1, { what: 'the published record' });
  await consumer.stop();
  const deserializer = new AvroDeserializer(confluent, SerdeType.VALUE, {});
  const decoded = await deserializer.deserialize(topic, raw[0] as Buffer);
  expect(decoded).toMatchObject({ orderId: 'o-1', percent: 10, approvedBy: 'pricing' });
  expect(decoded.envelope).toMatchObject({
    eventId: published.eventId,
    eventType: 'accord.commerce.DiscountApproved',
  });

  // Confluent → Accord: the schema registered under <topic>-value (TopicNameStrategy, Confluent's default),
  // serialized with Confluent's serializer, decoded by an Accord pipeline to the catalog's shape.
  const schema = referenceCatalog.schema('accord.commerce.DiscountApproved');
  const serializer = new AvroSerializer(confluent, SerdeType.VALUE, { useLatestVersion: true });
  const value = {
    envelope: { ...decoded.envelope, eventId: 'e-confluent-1', producer: 'confluent-client' },
    orderId: 'o-2',
    percent: 15,
    approvedBy: 'pricing',
  };
  await confluent.register(`${topic}-value`, { schemaType: 'AVRO', schema: JSON.stringify(schema) });
  const bytes = await serializer.serialize(topic, value);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'o-2', value: bytes }] });
  await producer.disconnect();
  const seen: Record<string, unknown>[] = [];
  const pipeline: Pipeline = createPipeline({
    name: ctx.group(),
    topics: [topic],
    config,
    catalog: referenceCatalog,
    handler: (event) => {
      if (event.value) seen.push(event.value);
    },
  });
  stops.push(() => pipeline.stop());
  await pipeline.start();
  await eventually(async () => seen.length === 2, { what: 'both records through the pipeline' });
  expect(seen[1]).toMatchObject({ orderId: 'o-2', percent: 15, envelope: { eventId: 'e-confluent-1' } });
  expect(pipeline.stats.deadLettered).toBe(0);
});
