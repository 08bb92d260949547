import { createHash } from 'node:crypto';
import {
  type CompatibilityMode,
  checkCompatibility,
  inTransaction,
  isCompatibilityMode,
  type ParsedSchema,
  parseAvroSchema,
  type SqlClient,
  type SqlPool,
} from '@accord/sdk';
import {
  incompatible,
  invalidCompatibility,
  invalidSchema,
  schemaNotFound,
  subjectConfigNotFound,
  subjectNotFound,
  subjectNotSoftDeleted,
  subjectSoftDeleted,
  versionNotFound,
  versionNotSoftDeleted,
  versionSoftDeleted,
} from './errors';

export interface VersionRow {
  subject: string;
  version: number;
  id: number;
  schema: string;
  deleted: boolean;
}

/** `latest` (or -1) or a version number. */
export type VersionRef = number | 'latest';

/**
 * The registry's state in Postgres (tables from migration 0002). Every write that allocates a version runs
 * in one transaction under a per-subject advisory lock, so concurrent registrations never produce two
 * ids for one schema (the fingerprint is unique) nor a gap or a duplicate in a subject's versions.
 */
export class RegistryStore {
  constructor(private readonly pool: SqlPool) {}

  private tx<T>(work: (client: SqlClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  private lockSubject(client: SqlClient, subject: string) {
    return client.query('select pg_advisory_xact_lock(hashtext($1))', [`accord-registry:${subject}`]);
  }

  parse(schemaText: unknown, schemaType: unknown): ParsedSchema {
    if (schemaType !== undefined && schemaType !== null && schemaType !== 'AVRO') {
      throw invalidSchema(
        `Invalid schema type ${JSON.stringify(schemaType)}: this registry stores AVRO schemas only`,
      );
    }
    if (typeof schemaText !== 'string' || schemaText.trim() === '') {
      throw invalidSchema(
        'Invalid schema: the request body needs a "schema" field holding the schema as a JSON string',
      );
    }
    try {
      return parseAvroSchema(schemaText);
    } catch (error) {
      throw invalidSchema((error as Error).message);
    }
  }

  private async versions(
    client: SqlPool | SqlClient,
    subject: string,
    includeDeleted: boolean,
  ): Promise<VersionRow[]> {
    const { rows } = await client.query<VersionRow>(
      `select v.subject, v.version, v.schema_id as id, s.canonical as schema, v.deleted
         from registry_versions v join registry_schemas s on s.id = v.schema_id
        where v.subject = $1 and ($2 or not v.deleted)
        order by v.version`,
      [subject, includeDeleted],
    );
    return rows;
  }

  async compatibilityOf(client: SqlPool | SqlClient, subject: string): Promise<CompatibilityMode> {
    const { rows } = await client.query<{ compatibility: CompatibilityMode }>(
      `select compatibility from registry_config where subject = $1 or subject = '' order by subject desc limit 1`,
      [subject],
    );
    return rows[0]?.compatibility ?? 'BACKWARD';
  }

  private static problems(
    candidate: ParsedSchema,
    previous: VersionRow[],
    mode: CompatibilityMode,
  ): string[] {
    const versions = previous.map((v) => ({ version: v.version, type: parseAvroSchema(v.schema).type }));
    return checkCompatibility(candidate.type, versions, mode).messages;
  }

  async register(subject: string, schemaText: unknown, schemaType: unknown): Promise<{ id: number }> {
    const parsed = this.parse(schemaText, schemaType);
    const fingerprint = createHash('sha256').update(parsed.canonical).digest('hex');
    return this.tx(async (client) => {
      await this.lockSubject(client, subject);
      const active = await this.versions(client, subject, false);
      const same = active.find((v) => v.schema === parsed.canonical);
      if (same) return { id: same.id };

      const mode = await this.compatibilityOf(client, subject);
      const problems = RegistryStore.problems(parsed, active, mode);
      if (problems.length) {
        throw incompatible(
          `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: ${problems.join('; ')}`,
        );
      }
      const inserted = await client.query<{ id: number }>(
        `insert into registry_schemas (schema_type, canonical, fingerprint) values ('AVRO', $1, $2)
         on conflict (fingerprint) do nothing returning id`,
        [parsed.canonical, fingerprint],
      );
      const id =
        inserted.rows[0]?.id ??
        (
          await client.query<{ id: number }>('select id from registry_schemas where fingerprint = $1', [
            fingerprint,
          ])
        ).rows[0]?.id;
      if (id === undefined) throw new Error('schema row vanished');
      await client.query(
        `insert into registry_versions (subject, version, schema_id)
         select $1, coalesce(max(version), 0) + 1, $2 from registry_versions where subject = $1`,
        [subject, id],
      );
      return { id };
    });
  }

  async lookup(
    subject: string,
    schemaText: unknown,
    schemaType: unknown,
    includeDeleted: boolean,
  ): Promise<VersionRow> {
    const parsed = this.parse(schemaText, schemaType);
    const versions = await this.versions(this.pool, subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const match = versions.find((v) => v.schema === parsed.canonical);
    if (!match) throw schemaNotFound();
    return match;
  }

  async subjects(includeDeleted: boolean): Promise<string[]> {
    const { rows } = await this.pool.query<{ subject: string }>(
      'select distinct subject from registry_versions where $1 or not deleted order by subject',
      [includeDeleted],
    );
    return rows.map((r) => r.subject);
  }

  async listVersions(subject: string, includeDeleted: boolean): Promise<number[]> {
    const versions = await this.versions(this.pool, subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    return versions.map((v) => v.version);
  }

  async getVersion(subject: string, ref: VersionRef, includeDeleted: boolean): Promise<VersionRow> {
    const versions = await this.versions(this.pool, subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const found = ref === 'latest' ? versions[versions.length - 1] : versions.find((v) => v.version === ref);
    if (!found) throw versionNotFound(ref);
    return found;
  }

  async deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.tx(async (client) => {
      await this.lockSubject(client, subject);
      const all = await this.versions(client, subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const active = all.filter((v) => !v.deleted);
      if (permanent) {
        if (active.length) throw subjectNotSoftDeleted(subject);
        await client.query('delete from registry_versions where subject = $1', [subject]);
        await client.query('delete from registry_config where subject = $1', [subject]);
        return all.map((v) => v.version);
      }
      if (active.length === 0) throw subjectSoftDeleted(subject);
      await client.query('update registry_versions set deleted = true where subject = $1 and not deleted', [
        subject,
      ]);
      return active.map((v) => v.version);
    });
  }

  async deleteVersion(subject: string, ref: VersionRef, permanent: boolean): Promise<number> {
    return this.tx(async (client) => {
      await this.lockSubject(client, subject);
      const all = await this.versions(client, subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const active = all.filter((v) => !v.deleted);
      const target = ref === 'latest' ? active[active.length - 1] : all.find((v) => v.version === ref);
      if (!target) throw versionNotFound(ref);
      if (permanent) {
        if (!target.deleted) throw versionNotSoftDeleted(subject, target.version);
        await client.query('delete from registry_versions where subject = $1 and version = $2', [
          subject,
          target.version,
        ]);
      } else {
        if (target.deleted) throw versionSoftDeleted(subject, target.version);
        await client.query(
          'update registry_versions set deleted = true where subject = $1 and version = $2',
          [subject, target.version],
        );
      }
      return target.version;
    });
  }

  async schemaById(id: number): Promise<{ schema: string; schemaType: string }> {
    const { rows } = await this.pool.query<{ schema: string; schemaType: string }>(
      'select canonical as schema, schema_type as "schemaType" from registry_schemas where id = $1',
      [id],
    );
    if (!rows[0]) throw schemaNotFound(id);
    return rows[0];
  }

  async versionsOfSchema(
    id: number,
    includeDeleted: boolean,
  ): Promise<{ subject: string; version: number }[]> {
    await this.schemaById(id);
    const { rows } = await this.pool.query<{ subject: string; version: number }>(
      `select subject, version from registry_versions where schema_id = $1 and ($2 or not deleted) order by subject, version`,
      [id, includeDeleted],
    );
    return rows;
  }

  async getConfig(subject: string | undefined, defaultToGlobal: boolean): Promise<CompatibilityMode> {
    if (subject === undefined || defaultToGlobal) return this.compatibilityOf(this.pool, subject ?? '');
    const { rows } = await this.pool.query<{ compatibility: CompatibilityMode }>(
      'select compatibility from registry_config where subject = $1',
      [subject],
    );
    if (!rows[0]) throw subjectConfigNotFound(subject);
    return rows[0].compatibility;
  }

  async setConfig(subject: string | undefined, value: unknown): Promise<CompatibilityMode> {
    const mode = typeof value === 'string' ? value.toUpperCase() : value;
    if (!isCompatibilityMode(mode)) throw invalidCompatibility(value);
    await this.pool.query(
      `insert into registry_config (subject, compatibility) values ($1, $2)
       on conflict (subject) do update set compatibility = excluded.compatibility`,
      [subject ?? '', mode],
    );
    return mode;
  }

  async deleteConfig(subject: string): Promise<CompatibilityMode> {
    const { rows } = await this.pool.query<{ compatibility: CompatibilityMode }>(
      'delete from registry_config where subject = $1 returning compatibility',
      [subject],
    );
    if (!rows[0]) throw subjectConfigNotFound(subject);
    return rows[0].compatibility;
  }

  /**
   * Is `schemaText` compatible with the subject? Against one version (`ref`), in the subject's mode's
   * direction; or, without `ref`, against every version the mode names (all of them when transitive).
   */
  async testCompatibility(
    subject: string,
    ref: VersionRef | undefined,
    schemaText: unknown,
    schemaType: unknown,
  ): Promise<{ compatible: boolean; messages: string[] }> {
    const parsed = this.parse(schemaText, schemaType);
    const mode = await this.compatibilityOf(this.pool, subject);
    const active = await this.versions(this.pool, subject, false);
    let against = active;
    let effective = mode;
    if (ref !== undefined) {
      if (active.length === 0) throw subjectNotFound(subject);
      const target = ref === 'latest' ? active[active.length - 1] : active.find((v) => v.version === ref);
      if (!target) throw versionNotFound(ref);
      against = [target];
      effective = mode.replace('_TRANSITIVE', '') as CompatibilityMode;
    }
    const messages = RegistryStore.problems(parsed, against, effective).map(
      (m) => `subject "${subject}" ${m}`,
    );
    return { compatible: messages.length === 0, messages };
  }
}
