import { readFileSync } from 'node:fs';
import { ConfigError, formatIssues } from '@accord/sdk';
import type { z } from 'zod';

/** Reads and validates a JSON file; errors name the file and each bad field. */
export function parseJsonFile<T>(path: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${path}: ${(error as Error).message}`);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new ConfigError(`${path}: ${formatIssues(result.error.issues)}`);
  return result.data;
}
