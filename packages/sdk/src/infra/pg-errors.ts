/**
 * Postgres errors are recognised by their SQLSTATE code (node-postgres exposes it as `error.code`),
 * never by message text. This module is the one place that knows the codes.
 */
export const SQLSTATE = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  invalidCatalogName: '3D000',
  duplicateDatabase: '42P04',
  duplicateObject: '42710',
  insufficientPrivilege: '42501',
  cannotConnectNow: '57P03',
  adminShutdown: '57P01',
} as const;

export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Network-level failures (the server is not there), by Node's errno code. */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH') {
    return true;
  }
  const state = sqlState(error);
  if (state === SQLSTATE.cannotConnectNow || state === SQLSTATE.adminShutdown) return true;
  // pg reports a connect timeout as a plain Error; AggregateError wraps refused IPv4+IPv6 attempts.
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return error instanceof Error && /timeout expired|Connection terminated/.test(error.message);
}

/** Retriable transaction failures: run the transaction again. */
export function isRetriableTransactionError(error: unknown): boolean {
  const state = sqlState(error);
  return state === SQLSTATE.serializationFailure || state === SQLSTATE.deadlockDetected;
}
