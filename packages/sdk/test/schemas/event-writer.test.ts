import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceCatalog } from '@accord/reference';
import { Type } from 'avsc';
import fc from 'fast-check';
import { EventWriter } from '../../src/schemas/event-writer';
import type { EventEnvelope } from '../../src/schemas/types.generated';

const catalog = referenceCatalog;
const writerOf = (name: string) => {
  const writer = EventWriter.of(catalog.schema(name), catalog.avroType(name));
  if (!writer) throw new Error(`no writer for ${name}`);
  return writer;
};
const written = (writer: EventWriter, envelope: EventEnvelope, data: unknown, size = 1 << 16) => {
  const buf = Buffer.alloc(size);
  const end = writer.write(buf, 3, envelope, data);
  return end === undefined || end < 0 ? end : buf.subarray(3, end);
};

const text = fc.string({ unit: 'grapheme', maxLength: 120 }); // well-formed, beyond 64 bytes too
const envelopes = (eventType: string) =>
  fc.record({
    eventId: fc.oneof(fc.uuid(), text),
    eventType: fc.constant(eventType),
    entityType: fc.constantFrom('order', 'stock_item', 'ünïcödé-type'),
    entityId: text,
    occurredAt: fc.oneof(
      fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
      fc.constantFrom(0, -1, 63, 64, -65, 2 ** 30, -(2 ** 30) - 1, 1_795_000_000_000),
    ),
    producer: fc.oneof(fc.constantFrom('bench', 'agent-pricing'), text),
    causationId: fc.option(text, { nil: null }),
    correlationId: fc.option(text, { nil: null }),
    contractVersions: fc.array(text, { maxLength: 4 }),
  });

test("every catalog event's record, written by the EventWriter, is avsc's encoding byte for byte", () => {
  for (const name of catalog.eventNames()) {
    const type = catalog.avroType(name);
    const writer = writerOf(name);
    fc.assert(
      fc.property(envelopes(name), (envelope) => {
        // The event's own fields: avsc's random value of the whole record, its envelope dropped (avsc's
        // random is not fast-check's, so a failure names the fields it was given).
        const { envelope: _, ...data } = type.random() as unknown as Record<string, unknown>;
        const mine = written(writer, envelope, data);
        const avsc = type.toBuffer({ ...data, envelope });
        if (!Buffer.isBuffer(mine) || !mine.equals(avsc))
          throw new Error(
            `${name}: ${Buffer.isBuffer(mine) ? `${mine.toString('hex')} written` : `answered ${String(mine)}`} where avsc wrote ${avsc.toString('hex')}, for fields ${JSON.stringify(data)}`,
          );
      }),
      { numRuns: 60 },
    );
  }
});

test('a constant string that changes between events (another producer, another entity type) is written as it is', () => {
  const name = 'accord.commerce.DiscountApproved';
  const type = catalog.avroType(name);
  const writer = writerOf(name);
  const data = { orderId: 'o-1', percent: 12.5, approvedBy: 'pricing' };
  for (const producer of [
    'a',
    'b',
    'a',
    'a-much-longer-producer-name-over-sixty-four-bytes-long-for-a-two-byte-length',
  ])
    for (const entityType of ['order', 'order_line']) {
      const envelope = baseEnvelope(name, { producer, entityType });
      expect(written(writer, envelope, data)).toEqual(type.toBuffer({ ...data, envelope }));
    }
});

test('declines what avsc must check and name: invalid fields, a lone surrogate, a time beyond 2^52 ms', () => {
  const name = 'accord.commerce.DiscountApproved';
  const writer = writerOf(name);
  const data = { orderId: 'o-1', percent: 12.5, approvedBy: 'pricing' };
  expect(written(writer, baseEnvelope(name), { ...data, percent: 'high' })).toBeUndefined();
  expect(written(writer, baseEnvelope(name), { orderId: 'o-1', percent: 1 })).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { eventId: 'a\ud800b' }), data)).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { causationId: '\udc00' }), data)).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { contractVersions: ['ok', 7 as never] }), data)).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { occurredAt: 2 ** 53 }), data)).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { occurredAt: 1.5 }), data)).toBeUndefined();
  expect(written(writer, baseEnvelope(name, { entityId: 42 as never }), data)).toBeUndefined();
  expect(Buffer.isBuffer(written(writer, baseEnvelope(name), data))).toBe(true);
});

test('a buffer too short gets a negative answer (the bytes missing, at most), as avsc', () => {
  const name = 'accord.commerce.DiscountApproved';
  const writer = writerOf(name);
  const data = { orderId: 'o-1', percent: 12.5, approvedBy: 'x'.repeat(500) };
  const envelope = baseEnvelope(name);
  const missing = written(writer, envelope, data, 40);
  expect(typeof missing).toBe('number');
  expect(missing as number).toBeLessThan(0);
  const fits = catalog.avroType(name).toBuffer({ ...data, envelope });
  // Short by the payload (avsc's answer) or by the envelope's bound: a larger buffer then fits.
  expect(written(writer, envelope, data, 40 - (missing as number) + 600)).toEqual(fits);
});

test("the envelope the writer writes is schemas/platform/EventEnvelope.avsc's; another envelope keeps avsc's path", () => {
  const file = JSON.parse(
    readFileSync(join(__dirname, '../../../../schemas/platform/EventEnvelope.avsc'), 'utf8'),
  ) as { fields: { name: string }[] };
  for (const name of catalog.eventNames())
    expect(EventWriter.of(catalog.schema(name), catalog.avroType(name))).toBeInstanceOf(EventWriter);
  const changed = {
    type: 'record',
    name: 'accord.test.Changed',
    fields: [
      { name: 'envelope', type: { ...file, fields: [...file.fields, { name: 'tenant', type: 'string' }] } },
      { name: 'n', type: 'int' },
    ],
  };
  expect(EventWriter.of(changed, Type.forSchema(changed as never))).toBeUndefined();
  const notAnEvent = { type: 'record', name: 'accord.test.Plain', fields: [{ name: 'n', type: 'int' }] };
  expect(EventWriter.of(notAnEvent, Type.forSchema(notAnEvent as never))).toBeUndefined();
});

function baseEnvelope(eventType: string, over: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    eventId: '6f1c2c7e-3a51-4a4e-9d55-0c8f3d2b7a10',
    eventType,
    entityType: 'order',
    entityId: 'order-1',
    occurredAt: 1_795_000_000_000,
    producer: 'bench',
    causationId: null,
    correlationId: 'corr-1',
    contractVersions: ['available_item@2'],
    ...over,
  };
}
