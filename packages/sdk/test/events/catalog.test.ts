/**
 * The catalog is how a domain plugs into the platform. These tests use a small domain of their own (not
 * the reference one): what a user writes, from generated SCHEMAS and EVENT_ENTITY_TYPES.
 */
import { defineCatalog, PLATFORM_CATALOG, SchemaValidationError } from '@accord/sdk';

const ENVELOPE = 'accord.platform.EventEnvelope';
const SCHEMAS = {
  'acme.shop.ThingOrdered': {
    type: 'record',
    name: 'ThingOrdered',
    namespace: 'acme.shop',
    'accord.entity': 'thing',
    fields: [
      { name: 'envelope', type: PLATFORM_CATALOG.schema(ENVELOPE) },
      { name: 'size', type: 'int' },
      { name: 'colour', type: 'string', default: 'red' },
    ],
  },
  'acme.shop.Dimensions': {
    type: 'record',
    name: 'Dimensions',
    namespace: 'acme.shop',
    fields: [{ name: 'width', type: 'int' }],
  },
} as const;
const ENTITIES = { 'acme.shop.ThingOrdered': 'thing' } as const;

interface ThingOrdered {
  envelope: unknown;
  size: number;
  colour?: string;
}
interface Types {
  'acme.shop.ThingOrdered': ThingOrdered;
  'acme.shop.Dimensions': { width: number };
}

const catalog = defineCatalog<Types>({ schemas: SCHEMAS, entities: ENTITIES });

test('a domain catalog names its topics, its entity types and its event types', () => {
  expect(catalog.entityTypes()).toEqual(['thing']);
  expect(catalog.entityTypeOf('acme.shop.ThingOrdered')).toBe('thing');
  expect(catalog.domainOfEntity('thing')).toBe('shop');
  expect(catalog.eventsTopic('thing')).toBe('shop.thing.events');
  expect(catalog.proposalsTopic('thing')).toBe('shop.thing.proposals');
  expect(catalog.eventTypesOf('thing')).toEqual(['acme.shop.ThingOrdered']);
  // Records without an envelope are schemas, not event types; platform records come with every catalog.
  expect(catalog.eventNames()).toEqual([
    'accord.platform.ChangeProposal',
    'accord.platform.Decision',
    'acme.shop.ThingOrdered',
  ]);
  expect(catalog.has('accord.platform.ChangeProposal')).toBe(true);
  expect(catalog.resolveEventName('ThingOrdered')).toBe('acme.shop.ThingOrdered');
});

test('unknown names are refused with what is known', () => {
  expect(() => catalog.resolveEventName('OrderPlaced')).toThrow(
    /unknown event type "OrderPlaced" \(known: accord.platform.ChangeProposal, accord.platform.Decision, acme.shop.ThingOrdered\); is its domain's catalog given\?/,
  );
  expect(() => catalog.domainOfEntity('order')).toThrow(/unknown entity type "order" \(known: thing\)/);
  expect(() => PLATFORM_CATALOG.eventsTopic('thing')).toThrow(/unknown entity type "thing" \(known: none\)/);
});

test('validation names every bad field path, its expected type and what it got', () => {
  const envelope = {
    eventId: 'e1',
    eventType: 'acme.shop.ThingOrdered',
    entityType: 'thing',
    entityId: 't1',
    occurredAt: 1,
    producer: 'p',
  };
  expect(() => catalog.validate('acme.shop.ThingOrdered', { envelope, size: 3 })).not.toThrow();
  let error: unknown;
  try {
    catalog.validate('acme.shop.ThingOrdered', { envelope: { ...envelope, entityId: 42 }, colour: 7 });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SchemaValidationError);
  expect((error as SchemaValidationError).issues).toEqual([
    { path: 'envelope.entityId', expected: '"string"', actual: '42' },
    { path: 'size', expected: '"int"', actual: 'missing' },
    { path: 'colour', expected: '"string"', actual: '7' },
  ]);
  expect((error as Error).message).toBe(
    'invalid acme.shop.ThingOrdered: envelope.entityId: expected "string", got 42; size: expected "int", got missing; colour: expected "string", got 7',
  );
});

test('a bad definition is refused at construction, naming the event type', () => {
  expect(() => defineCatalog({ schemas: {}, entities: { 'acme.shop.Ghost': 'thing' } })).toThrow(
    /catalog: entity map names acme.shop.Ghost, which has no schema/,
  );
  const other = { ...SCHEMAS['acme.shop.ThingOrdered'], namespace: 'acme.depot', name: 'ThingMoved' };
  expect(() =>
    catalog.with({
      schemas: { 'acme.depot.ThingMoved': other },
      entities: { 'acme.depot.ThingMoved': 'thing' },
    }),
  ).toThrow(/entity type "thing" has events in two domains \(shop, depot\)/);
  expect(() => catalog.with({ schemas: { 'acme.shop.Dimensions': {} }, entities: {} })).toThrow(
    /schema acme.shop.Dimensions is defined twice/,
  );
});
