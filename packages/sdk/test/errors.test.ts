import {
  type AccordError,
  ConfigError,
  describeError,
  ERROR_CODES,
  isAccordError,
  StackError,
  UnavailableError,
  UsageError,
} from '@accord/sdk';

test('every error class carries a code from the closed list and the right retry decision', () => {
  const cause = new Error('socket closed');
  const cases: [AccordError, string, boolean][] = [
    [new ConfigError('bad'), 'CONFIG_INVALID', false],
    [new UsageError('bad'), 'USAGE', false],
    [new UnavailableError('KAFKA_UNAVAILABLE', 'down', { cause }), 'KAFKA_UNAVAILABLE', true],
    [new StackError('STACK_PORT_BUSY', 'busy'), 'STACK_PORT_BUSY', false],
  ];
  for (const [error, code, retriable] of cases) {
    expect(ERROR_CODES).toContain(error.code);
    expect(error).toMatchObject({ code, retriable });
    expect(isAccordError(error)).toBe(true);
    expect(error).toBeInstanceOf(Error);
  }
  expect(cases[2]?.[0].cause).toBe(cause);
  expect(cases[0]?.[0].name).toBe('ConfigError');
});

test('isAccordError and describeError handle foreign values', () => {
  expect(isAccordError(new TypeError('x'))).toBe(false);
  expect(describeError(new TypeError('boom'))).toBe('boom');
  expect(describeError('plain')).toBe('plain');
});
