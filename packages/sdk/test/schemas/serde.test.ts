import { readWireHeader, SchemaValidationError, validateRecord } from '@accord/sdk';

const envelope = {
  eventId: 'e1',
  eventType: 'accord.commerce.DiscountApproved',
  entityType: 'order',
  entityId: 'o1',
  occurredAt: Date.now(),
  producer: 'pricing-agent',
};

test('a valid record passes validation (fields with defaults may be left out)', () => {
  expect(() =>
    validateRecord('accord.commerce.DiscountApproved', {
      envelope,
      orderId: 'o1',
      percent: 20,
      approvedBy: 'pricing',
    }),
  ).not.toThrow();
});

test('an invalid record is refused naming each field path and expected type', () => {
  let error: unknown;
  try {
    validateRecord('accord.commerce.DiscountApproved', {
      envelope: { ...envelope, entityId: 42 },
      orderId: 'o1',
      percent: 'twenty',
    });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SchemaValidationError);
  const v = error as SchemaValidationError;
  expect(v.code).toBe('SCHEMA_VALIDATION_FAILED');
  expect(v.issues).toEqual([
    { path: 'envelope.entityId', expected: '"string"', actual: '42' },
    { path: 'percent', expected: '"double"', actual: '"twenty"' },
    { path: 'approvedBy', expected: '"string"', actual: 'missing' },
  ]);
  expect(v.message).toBe(
    'invalid accord.commerce.DiscountApproved: envelope.entityId: expected "string", got 42; percent: expected "double", got "twenty"; approvedBy: expected "string", got missing',
  );
});

test('the wire header is checked: length and magic byte', () => {
  expect(readWireHeader(Buffer.from([0, 0, 0, 1, 2, 9]))).toEqual({
    schemaId: 258,
    payload: Buffer.from([9]),
  });
  expect(() => readWireHeader(Buffer.from([0, 1]))).toThrow(
    expect.objectContaining({
      code: 'WIRE_FORMAT_INVALID',
      message: expect.stringMatching(/2 byte\(s\): too short/),
    }),
  );
  expect(() => readWireHeader(Buffer.from('{"json":true}'))).toThrow(
    /starts with byte 0x7b, expected magic byte 0x00/,
  );
});
