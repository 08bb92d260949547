import {
  AccordError,
  asUnavailable,
  classifyFailure,
  errorCodeOf,
  RetryableError,
  TerminalError,
  UnavailableError,
} from '@accord/sdk';

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

test('Postgres refusing the data is dead-lettered at once, under a stable code; a conflict or a lost connection is retried', () => {
  const pg = (code: string) => Object.assign(new Error(`pg ${code}`), { name: 'error', code });
  expect(classifyFailure(pg('22P05'), 1, 3)).toBe('dead-letter'); // untranslatable character (a NUL)
  expect(classifyFailure(pg('23514'), 1, 3)).toBe('dead-letter'); // no partition of the table for the row
  expect(classifyFailure(pg('23505'), 1, 3)).toBe('retry'); // unique violation: a race, tried again
  expect(classifyFailure(pg('40001'), 1, 3)).toBe('retry'); // serialization failure
  expect(classifyFailure(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 1, 3)).toBe('retry');
  expect(errorCodeOf(pg('22P05'))).toBe('POSTGRES_DATA_REFUSED');
  expect(errorCodeOf(pg('23514'))).toBe('POSTGRES_DATA_REFUSED');
  expect(errorCodeOf(pg('23505'))).toBe('POSTGRES_QUERY_FAILED');
  expect(errorCodeOf(pg('40001'))).toBe('POSTGRES_QUERY_FAILED');
  expect(errorCodeOf(new TypeError('x'))).toBe('TypeError');
});

test('a kafkajs outage reaching a caller reads KAFKA_UNAVAILABLE, anything else stays unknown', () => {
  const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:37054'), {
    name: 'KafkaJSConnectionError',
  });
  expect(asUnavailable(refused)).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true });
  expect(asUnavailable(new TypeError('x'))).toBeUndefined();
});
