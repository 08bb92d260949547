import { AccordError, classifyFailure, RetryableError, TerminalError, UnavailableError } from '@accord/sdk';

test('the error type carries the retry decision', () => {
  expect(classifyFailure(new TerminalError('bad'), 1, 3)).toBe('dead-letter');
  expect(classifyFailure(new TypeError('x is undefined'), 1, 3)).toBe('dead-letter');
  expect(classifyFailure(new RangeError('too big'), 1, 3)).toBe('dead-letter');
  expect(classifyFailure(new AccordError('SCHEMA_VALIDATION_FAILED', 'no'), 1, 3)).toBe('dead-letter');
  expect(classifyFailure(new RetryableError('later'), 1, 3)).toBe('retry');
  expect(classifyFailure(new UnavailableError('REDIS_UNAVAILABLE', 'down'), 2, 3)).toBe('retry');
  expect(classifyFailure(new Error('plain'), 2, 3)).toBe('retry');
  expect(classifyFailure(new Error('plain'), 3, 3)).toBe('dead-letter');
  expect(classifyFailure(new RetryableError('later'), 3, 3)).toBe('dead-letter');
});
