import { readWireHeader } from '@accord/sdk';

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
