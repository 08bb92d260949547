import { z } from 'zod';
import { AccordError, type AccordErrorCode } from './errors';

/** One line naming every bad field: `targets.0.out: a .ts file…; partitions: expected number, got string`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const input = (issue as { input?: unknown }).input;
      const got =
        input === undefined || typeof input === 'function' || (typeof input === 'object' && input !== null)
          ? ''
          : ` (got ${JSON.stringify(input)})`;
      return path ? `${prefix}${path}: ${issue.message}${got}` : `${issue.message}${got}`;
    })
    .join('; ');
}

/**
 * Validates a component's options at construction: the error names the component and each bad option,
 * e.g. `pipeline options: batchSize: Too small: expected number to be >=1`.
 */
export function parseOptions<T>(
  what: string,
  schema: z.ZodType<T>,
  value: unknown,
  code: AccordErrorCode = 'CONFIG_INVALID',
): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success)
    throw new AccordError(code, `${what}: ${formatIssues(result.error.issues, 'option ')}`);
  return result.data;
}

/** A function-valued option (zod checks only that it is callable; TypeScript checks its signature). */
export const fn = (message = 'must be a function') =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', message);
