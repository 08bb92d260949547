import { createHash } from 'node:crypto';
import { stableStringify } from '@accord/sdk';
import { HttpError, invalidSchema, refuseNul } from './errors';

/**
 * What a schema is to the registry, without storage: the request it arrives in, its identity (canonical
 * text, references, metadata, rule set), its GUID, how it is answered (Confluent's Schema entity), and how
 * metadata and rule sets are inherited and merged.
 */
export interface Reference {
  name: string;
  subject: string;
  version: number;
}

export type Json = Record<string, unknown>;

/** A schema version with everything Confluent keeps with it. */
export interface VersionRow {
  subject: string;
  version: number;
  id: number;
  /** As registered (canonical when it was registered with normalize). */
  schema: string;
  canonical: string;
  fingerprint: string;
  references: Reference[];
  metadata: Json | null;
  ruleSet: Json | null;
  deleted: boolean;
}

/** What a register or lookup request may carry. */
export interface SchemaRequest {
  schema?: unknown;
  schemaType?: unknown;
  references?: unknown;
  metadata?: unknown;
  ruleSet?: unknown;
  id?: unknown;
  version?: unknown;
}

/** The GUID Confluent gives every schema: here derived from the schema's identity. */
export function guidOf(fingerprint: string): string {
  const h = fingerprint;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A version as Confluent's Schema entity (empty fields left out; schemaType only when not AVRO). */
export function entity(row: VersionRow): Json {
  return {
    subject: row.subject,
    version: row.version,
    id: row.id,
    guid: guidOf(row.fingerprint),
    schema: row.schema,
    ...(row.references.length ? { references: row.references } : {}),
    ...(row.metadata ? { metadata: row.metadata } : {}),
    ...(row.ruleSet ? { ruleSet: row.ruleSet } : {}),
  };
}

/**
 * A schema's identity: its canonical text (whitespace and key order do not matter, as in Confluent's
 * canonical string), its references, metadata and rule set. Without the last three it is the sha-256 of
 * the canonical text, as before schemas had them, so ids registered earlier are found again.
 */
export function fingerprintOf(
  canonical: string,
  references: Reference[],
  metadata: Json | null,
  ruleSet: Json | null,
) {
  const extra =
    references.length || metadata || ruleSet
      ? `\u0000${stableStringify([references, metadata, ruleSet])}`
      : '';
  return createHash('sha256')
    .update(canonical + extra)
    .digest('hex');
}

export function objectOrNull(name: string, value: unknown): Json | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidSchema(`Invalid schema: ${name} must be an object, got ${JSON.stringify(value)}`);
  refuseNul(name, value, (m) => invalidSchema(`Invalid schema: ${m}`));
  return value as Json;
}

export function referencesOf(value: unknown): Reference[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw invalidSchema('Invalid schema: references must be an array of {name, subject, version}');
  return value.map((r, i) => {
    const ref = r as Partial<Reference>;
    if (
      typeof ref?.name !== 'string' ||
      typeof ref.subject !== 'string' ||
      !Number.isInteger(ref.version) ||
      (ref.version as number) < 1
    )
      throw invalidSchema(
        `Invalid schema: references[${i}] must be {name, subject, version ≥ 1}, got ${JSON.stringify(r)}`,
      );
    refuseNul(`references[${i}]`, ref, (m) => invalidSchema(`Invalid schema: ${m}`));
    return { name: ref.name, subject: ref.subject, version: ref.version as number };
  });
}

/** Metadata as Confluent merges it: properties and tags merged key by key, sensitive names united. */
export function mergeMetadata(base: Json | null | undefined, over: Json | null | undefined): Json | null {
  if (!base) return over ?? null;
  if (!over) return base;
  const merged: Json = { ...base, ...over };
  for (const key of ['properties', 'tags'] as const)
    if (base[key] || over[key]) merged[key] = { ...(base[key] as Json), ...(over[key] as Json) };
  if (base.sensitive || over.sensitive)
    merged.sensitive = [
      ...new Set([...((base.sensitive as string[]) ?? []), ...((over.sensitive as string[]) ?? [])]),
    ];
  return merged;
}

export function mergeRuleSet(base: Json | null | undefined, over: Json | null | undefined): Json | null {
  if (!base) return over ?? null;
  if (!over) return base;
  const merged: Json = { ...base };
  for (const key of ['migrationRules', 'domainRules', 'encodingRules'] as const)
    if (over[key]) {
      const byName = new Map(((base[key] as Json[]) ?? []).map((r) => [r.name, r]));
      for (const rule of over[key] as Json[]) byName.set(rule.name, rule);
      merged[key] = [...byName.values()];
    }
  return merged;
}

// Key order does not count (Postgres jsonb keeps its own).
export const same = (a: unknown, b: unknown) => stableStringify(a ?? null) === stableStringify(b ?? null);

export const referenceExists = (subject: string, version: number) =>
  new HttpError(
    422,
    42206,
    `One or more references exist to the schema {subject=${subject},version=${version}}`,
  );

export const idDoesNotMatch = (existing: number | undefined, wanted: unknown) =>
  new HttpError(
    422,
    42207,
    existing === undefined
      ? `Schema id ${JSON.stringify(wanted)} is already used by another schema`
      : `The given id ${JSON.stringify(wanted)} does not match the schema's id ${existing}`,
  );
