import type { SqlPool } from '@accord/sdk';
import { HttpError, schemaNotFound } from './errors';
import { guidOf, type Json, type Reference } from './schema-model';

/** The registry's read-only queries that need no subject lock: subjects, schemas by id or GUID and their uses. */

export async function subjects(pool: SqlPool, includeDeleted: boolean, prefix = ''): Promise<string[]> {
  const { rows } = await pool.query<{ subject: string }>(
    `select distinct subject from registry_versions where ($1 or not deleted) and starts_with(subject, $2)
      order by subject`,
    [includeDeleted, prefix],
  );
  return rows.map((r) => r.subject);
}

/** GET /schemas/ids/{id} (or by GUID): the schema as registered, with its references, metadata and rules. */
export async function schemaById(
  pool: SqlPool,
  id: number | { guid: string },
): Promise<Json & { schema: string }> {
  const byGuid = typeof id === 'object';
  const { rows } = await pool.query<{
    schema: string;
    schemaType: string;
    references: Reference[];
    metadata: Json | null;
    ruleSet: Json | null;
    id: number;
    fingerprint: string;
  }>(
    `select id, fingerprint, schema_text as schema, schema_type as "schemaType", refs as "references", metadata,
            rule_set as "ruleSet"
       from registry_schemas where ${byGuid ? 'fingerprint like $1' : 'id = $1'}`,
    [
      byGuid
        ? `${id.guid
            .replace(/-/g, '')
            .toLowerCase()
            .replace(/[^0-9a-f]/g, '')}%`
        : id,
    ],
  );
  const row = rows[0];
  if (!row || (byGuid && guidOf(row.fingerprint) !== id.guid.toLowerCase()))
    throw byGuid ? new HttpError(404, 40403, `Schema ${id.guid} not found`) : schemaNotFound(id as number);
  return {
    // Confluent omits schemaType for AVRO, the default.
    ...(row.schemaType === 'AVRO' ? {} : { schemaType: row.schemaType }),
    schema: row.schema,
    ...(row.references.length ? { references: row.references } : {}),
    ...(row.metadata ? { metadata: row.metadata } : {}),
    ...(row.ruleSet ? { ruleSet: row.ruleSet } : {}),
    ...(byGuid ? { id: row.id } : { guid: guidOf(row.fingerprint) }),
  };
}

export async function versionsOfSchema(
  pool: SqlPool,
  id: number,
  includeDeleted: boolean,
): Promise<{ subject: string; version: number }[]> {
  await schemaById(pool, id);
  const { rows } = await pool.query<{ subject: string; version: number }>(
    `select subject, version from registry_versions where schema_id = $1 and ($2 or not deleted) order by subject, version`,
    [id, includeDeleted],
  );
  return rows;
}
