import {
  type CompatibilityMode,
  checkCompatibility,
  type ParsedSchema,
  parseAvroSchema,
  type SqlClient,
  type SqlPool,
} from '@accord/sdk';
import { invalidSchema, refuseNul } from './errors';
import type { Reference, VersionRow } from './schema-model';

/**
 * Schemas parsed as the registry stores them: with the texts of their references (looked up in the
 * registry, references of references included), for registering, looking up and compatibility checks.
 */

export const VERSION_COLUMNS = `v.subject, v.version, v.schema_id as id, s.schema_text as schema, s.canonical, s.fingerprint,
  s.refs as "references", s.metadata, s.rule_set as "ruleSet", v.deleted`;

/**
 * The texts of a schema's references, dependencies first (references of references included), each
 * checked to exist: a reference to a missing subject or version is an invalid schema.
 */
export async function resolveReferences(
  db: SqlPool | SqlClient,
  references: Reference[],
  seen = new Set<string>(),
): Promise<string[]> {
  const out: string[] = [];
  for (const ref of references) {
    const key = `${ref.subject}\u0000${ref.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const { rows } = await db.query<VersionRow>(
      `select ${VERSION_COLUMNS} from registry_versions v join registry_schemas s on s.id = v.schema_id
        where v.subject = $1 and v.version = $2`,
      [ref.subject, ref.version],
    );
    const row = rows[0];
    if (!row)
      throw invalidSchema(
        `Invalid schema: reference ${ref.name} to subject '${ref.subject}' version ${ref.version} not found`,
      );
    out.push(...(await resolveReferences(db, row.references, seen)), row.schema);
  }
  return out;
}

export async function parseSchema(
  db: SqlPool | SqlClient,
  schemaText: unknown,
  schemaType: unknown,
  references: Reference[] = [],
): Promise<ParsedSchema> {
  if (schemaType !== undefined && schemaType !== null && schemaType !== 'AVRO') {
    throw invalidSchema(
      `Invalid schema type ${JSON.stringify(schemaType)}: this registry stores AVRO schemas only (JSON and PROTOBUF are not supported)`,
    );
  }
  if (typeof schemaText !== 'string' || schemaText.trim() === '') {
    throw invalidSchema(
      'Invalid schema: the request body needs a "schema" field holding the schema as a JSON string',
    );
  }
  refuseNul('schema', schemaText, (m) => invalidSchema(`Invalid schema: ${m}`));
  const resolved = await resolveReferences(db, references);
  try {
    return parseAvroSchema(schemaText, { references: resolved });
  } catch (error) {
    throw invalidSchema((error as Error).message);
  }
}

/** The compatibility problems of `candidate` against `previous`, each parsed with its references. */
export async function compatibilityProblems(
  db: SqlPool | SqlClient,
  candidate: ParsedSchema,
  previous: VersionRow[],
  mode: CompatibilityMode,
): Promise<string[]> {
  const versions = [];
  for (const v of previous)
    versions.push({
      version: v.version,
      type: parseAvroSchema(v.schema, { references: await resolveReferences(db, v.references) }).type,
    });
  return checkCompatibility(candidate.type, versions, mode).messages;
}
