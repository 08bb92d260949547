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
      const wait = backoffMs(attempt, options.initialMs ?? 200, options.maxMs ?? 5000);
      options.onRetry?.(error, attempt, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The wait before try `attempt + 1`: `initialMs`, doubling per attempt, capped at `maxMs`. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** (attempt - 1));
}

/**
 * The one polling loop: calls `probe` every `intervalMs` until it returns a value other than undefined
 * (returned), or `timeoutMs` passed (undefined). For conditions nothing pushes (a process's exit, a
 * port that opens); what can be pushed (decisions, control messages) is pushed instead.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs, intervalMs = 200 }: { timeoutMs: number; intervalMs?: number },
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
