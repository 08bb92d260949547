import { Type } from 'avsc';
import { InvalidSchemaError } from '../errors';

/** An Avro schema as JSON: a primitive name, a union array, or a complex-type object. */
export type AvroJson = string | AvroJson[] | { [key: string]: unknown };

export interface ParsedSchema {
  json: AvroJson;
  type: Type;
  /** Compact JSON with object keys sorted: two schemas are "the same" exactly when these are equal. */
  canonical: string;
}

export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Parses an Avro schema given as text (as the registry receives it) or as JSON, and validates it with avsc.
 * Throws InvalidSchemaError with a readable reason for malformed JSON or invalid Avro.
 */
export function parseAvroSchema(input: string | AvroJson): ParsedSchema {
  let json: AvroJson;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input) as AvroJson;
    } catch (error) {
      throw new InvalidSchemaError(`Invalid schema: not valid JSON (${(error as Error).message})`);
    }
  } else {
    json = input;
  }
  let type: Type;
  try {
    type = Type.forSchema(json as Parameters<typeof Type.forSchema>[0], { noAnonymousTypes: true });
  } catch (error) {
    throw new InvalidSchemaError(`Invalid schema: ${(error as Error).message}`);
  }
  return { json, type, canonical: stableStringify(json) };
}
