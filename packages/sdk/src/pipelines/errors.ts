import { AccordError } from '../errors';
import { sqlState } from '../infra/pg-errors';

/** Thrown by a handler: this event can never succeed; dead-letter it now, no retries. */
export class TerminalError extends AccordError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PIPELINE_HANDLER_FAILED', message, { ...options, retriable: false });
  }
}

/** Thrown by a handler: a transient failure; retry with backoff, then dead-letter. */
export class RetryableError extends AccordError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PIPELINE_HANDLER_FAILED', message, { ...options, retriable: true });
  }
}

/** This instance lost the partition: another owner moved the checkpoint's epoch on. */
export class FencedError extends AccordError {
  constructor(message: string) {
    super('PIPELINE_FENCED', message, { retriable: false });
  }
}

const PROGRAMMER_ERRORS = ['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError'];

export type FailureDecision = 'retry' | 'dead-letter';

/**
 * The retry decision travels with the error type: TerminalError and programmer errors (TypeError, …)
 * are dead-lettered at once; RetryableError and anything else is retried until attempts run out.
 */
export function classifyFailure(error: unknown, attempt: number, maxAttempts: number): FailureDecision {
  if (error instanceof TerminalError) return 'dead-letter';
  // Postgres refusing the data itself refuses it again on every try (found by fuzzing).
  if (refusesData(sqlState(error))) return 'dead-letter';
  if (error instanceof AccordError && !error.retriable) return 'dead-letter';
  const name = (error as { name?: unknown })?.name;
  if (typeof name === 'string' && PROGRAMMER_ERRORS.includes(name)) return 'dead-letter';
  return attempt < maxAttempts ? 'retry' : 'dead-letter';
}

/**
 * Class 22, a data exception (a NUL in text, a date out of range); class 23, a constraint (no partition
 * for the row), except a unique violation (23505), which is a race and passes when tried again.
 */
function refusesData(state: string | undefined): boolean {
  return state !== undefined && (state.startsWith('22') || (state.startsWith('23') && state !== '23505'));
}

export function errorCodeOf(error: unknown): string {
  if (error instanceof AccordError) return error.code;
  // node-postgres names its errors "error": the dead letter says which store refused, and whether it was
  // the event's data (the SQLSTATE in its message either way).
  const state = sqlState(error);
  if (refusesData(state)) return 'POSTGRES_DATA_REFUSED';
  if (state) return 'POSTGRES_QUERY_FAILED';
  const name = (error as { name?: unknown })?.name;
  return typeof name === 'string' ? name : 'Error';
}

/** How long a handler failing on an outage is retried in place before its batch is given up (and fetched again). */
export const OUTAGE_RETRY_IN_PLACE_MS = 30_000;

/** An infrastructure outage (REDIS_UNAVAILABLE, POSTGRES_UNAVAILABLE, …), not a bad event. */
export function isOutage(error: unknown): boolean {
  return error instanceof AccordError && error.retriable && error.code.endsWith('_UNAVAILABLE');
}
