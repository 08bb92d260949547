import { isConnectionError, isRetriableTransactionError, SQLSTATE, sqlState } from '@accord/sdk';

test('sqlState reads a SQLSTATE code and ignores other codes', () => {
  expect(sqlState({ code: '23505' })).toBe(SQLSTATE.uniqueViolation);
  expect(sqlState({ code: 'ECONNREFUSED' })).toBeUndefined();
  expect(sqlState(null)).toBeUndefined();
});

test('serialization failures and deadlocks are retriable, unique violations are not', () => {
  expect(isRetriableTransactionError({ code: '40001' })).toBe(true);
  expect(isRetriableTransactionError({ code: '40P01' })).toBe(true);
  expect(isRetriableTransactionError({ code: '23505' })).toBe(false);
});

test('connection failures are recognised by errno, SQLSTATE, or inside an AggregateError', () => {
  expect(isConnectionError({ code: 'ECONNREFUSED' })).toBe(true);
  expect(isConnectionError({ code: '57P03' })).toBe(true);
  expect(isConnectionError(new AggregateError([{ code: 'ECONNREFUSED' }]))).toBe(true);
  expect(isConnectionError({ code: '23505' })).toBe(false);
});
