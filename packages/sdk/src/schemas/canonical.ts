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
 * `references`: schemas (text or JSON, dependencies first) whose named types it may use by name, as
 * Confluent's schema references provide them. Throws InvalidSchemaError with a readable reason for
 * malformed JSON or invalid Avro (an unknown named type included).
 */
export function parseAvroSchema(
  input: string | AvroJson,
  options: { references?: (string | AvroJson)[] } = {},
): ParsedSchema {
  const asJson = (value: string | AvroJson): AvroJson => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as AvroJson;
    } catch (error) {
      throw new InvalidSchemaError(`Invalid schema: not valid JSON (${(error as Error).message})`);
    }
  };
  const json = asJson(input);
  // avsc resolves names through the registry: referenced types are parsed into it first.
  const registry: Record<string, Type> = {};
  let type: Type;
  try {
    for (const reference of options.references ?? [])
      Type.forSchema(asJson(reference) as Parameters<typeof Type.forSchema>[0], {
        registry,
        noAnonymousTypes: true,
      });
    type = Type.forSchema(json as Parameters<typeof Type.forSchema>[0], { registry, noAnonymousTypes: true });
  } catch (error) {
    if (error instanceof InvalidSchemaError) throw error;
    throw new InvalidSchemaError(`Invalid schema: ${(error as Error).message}`);
  }
  return { json, type, canonical: stableStringify(json) };
}
