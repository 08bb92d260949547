import { isAccordError } from '../errors';

/** Failures worth trying again: retriable Accord errors and retriable Kafka protocol errors (e.g. a
 * partition whose leader a broker that just started has not elected yet). */
export function isTransient(error: unknown): boolean {
  if (isAccordError(error)) return error.retriable;
  return (error as { retriable?: unknown })?.retriable === true;
}

/**
 * The one backoff loop: runs `work` until it succeeds, a failure is not transient, or `attempts` ran out;
 * waits initialMs, doubling up to maxMs, between tries. The last failure is thrown as it was.
 */
export async function withRetry<T>(
  work: () => Promise<T>,
  options: {
    attempts?: number;
    initialMs?: number;
    maxMs?: number;
    retryIf?: (error: unknown) => boolean;
    onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
  } = {},
): Promise<T> {
  const attempts = options.attempts ?? 6;
  const retryIf = options.retryIf ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !retryIf(error)) throw error;
      const wait = Math.min(options.maxMs ?? 5000, (options.initialMs ?? 200) * 2 ** (attempt - 1));
      options.onRetry?.(error, attempt, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
