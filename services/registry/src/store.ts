import { type CompatibilityMode, inTransaction, type SqlClient, type SqlPool } from '@accord/sdk';
import {
  incompatible,
  invalidSchema,
  schemaNotFound,
  subjectNotFound,
  subjectNotSoftDeleted,
  subjectSoftDeleted,
  versionNotFound,
  versionNotSoftDeleted,
  versionSoftDeleted,
} from './errors';
import { compatibilityProblems, parseSchema, VERSION_COLUMNS } from './parsing';
import {
  entity,
  fingerprintOf,
  idDoesNotMatch,
  type Json,
  mergeMetadata,
  mergeRuleSet,
  objectOrNull,
  type Reference,
  referenceExists,
  referencesOf,
  type SchemaRequest,
  same,
  type VersionRow,
} from './schema-model';
import { effectiveConfig, type Mode, modeOf, operationNotPermitted, type RegistryConfig } from './settings';

export type { Reference, SchemaRequest, VersionRow } from './schema-model';
export { entity, guidOf } from './schema-model';

/** `latest` (or -1) or a version number. */
export type VersionRef = number | 'latest';

/**
 * The registry's state in Postgres (migrations 0002 and 0019). Every write that allocates a version runs
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

  private async versions(
    client: SqlPool | SqlClient,
    subject: string,
    includeDeleted: boolean,
  ): Promise<VersionRow[]> {
    const { rows } = await client.query<VersionRow>(
      `select ${VERSION_COLUMNS} from registry_versions v join registry_schemas s on s.id = v.schema_id
        where v.subject = $1 and ($2 or not v.deleted) order by v.version`,
      [subject, includeDeleted],
    );
    return rows;
  }

  /** Versions a new one is checked against: with a compatibility group, those of the same group only. */
  private static group(config: RegistryConfig, versions: VersionRow[], metadata: Json | null): VersionRow[] {
    const name = config.compatibilityGroup;
    if (!name) return versions;
    const value = (metadata?.properties as Json | undefined)?.[name];
    return versions.filter((v) => (v.metadata?.properties as Json | undefined)?.[name] === value);
  }

  /**
   * POST /subjects/{s}/versions. The same schema (same identity) already in the subject answers its id and
   * version; otherwise a new version, checked for compatibility (not in IMPORT mode). Metadata and rule
   * set not given are inherited from the latest version, else the config's defaults; overrides apply last.
   */
  async register(subject: string, request: SchemaRequest, normalizeAsked: boolean): Promise<Json> {
    const references = referencesOf(request.references);
    return this.tx(async (client) => {
      await this.lockSubject(client, subject);
      const importing = (await this.writable(client, subject)) === 'IMPORT';
      if (request.id !== undefined && !importing)
        throw operationNotPermitted(`Subject ${subject} is not in import mode: an id cannot be given`);
      const config = await effectiveConfig(client, subject);
      const parsed = await parseSchema(client, request.schema, request.schemaType, references);
      const text = normalizeAsked || config.normalize ? parsed.canonical : (request.schema as string);
      const active = await this.versions(client, subject, false);
      const latest = active[active.length - 1];
      const metadata = mergeMetadata(
        objectOrNull('metadata', request.metadata) ?? latest?.metadata ?? config.defaultMetadata,
        config.overrideMetadata,
      );
      const ruleSet = mergeRuleSet(
        objectOrNull('ruleSet', request.ruleSet) ?? latest?.ruleSet ?? config.defaultRuleSet,
        config.overrideRuleSet,
      );
      const fingerprint = fingerprintOf(parsed.canonical, references, metadata, ruleSet);
      const existing = active.find((v) => v.fingerprint === fingerprint);
      if (existing) {
        if (importing && request.id !== undefined && request.id !== existing.id)
          throw idDoesNotMatch(existing.id, request.id);
        return entity(existing);
      }
      if (!importing) {
        const problems = await compatibilityProblems(
          client,
          parsed,
          RegistryStore.group(config, active, metadata),
          config.compatibilityLevel ?? 'BACKWARD',
        );
        if (problems.length)
          throw incompatible(
            `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: ${problems.join('; ')}`,
          );
      }
      const id = await this.schemaId(client, {
        text,
        canonical: parsed.canonical,
        fingerprint,
        references,
        metadata,
        ruleSet,
        wanted: importing ? request.id : undefined,
      });
      const version = await this.nextVersion(client, subject, importing ? request.version : undefined);
      await client.query('insert into registry_versions (subject, version, schema_id) values ($1, $2, $3)', [
        subject,
        version,
        id,
      ]);
      const [row] = (await this.versions(client, subject, false)).filter((v) => v.version === version);
      return entity(row as VersionRow);
    });
  }

  /** The schema's id: the existing one for its identity, else a new one (in IMPORT mode the one given). */
  private async schemaId(
    client: SqlClient,
    s: {
      text: string;
      canonical: string;
      fingerprint: string;
      references: Reference[];
      metadata: Json | null;
      ruleSet: Json | null;
      wanted: unknown;
    },
  ): Promise<number> {
    const known = await client.query<{ id: number }>(
      'select id from registry_schemas where fingerprint = $1',
      [s.fingerprint],
    );
    if (s.wanted !== undefined) {
      if (!Number.isInteger(s.wanted) || (s.wanted as number) < 1)
        throw invalidSchema(`Invalid schema: id must be a positive integer, got ${JSON.stringify(s.wanted)}`);
      if (known.rows[0]) {
        if (known.rows[0].id !== s.wanted) throw idDoesNotMatch(known.rows[0].id, s.wanted);
        return known.rows[0].id;
      }
      const taken = await client.query('select 1 from registry_schemas where id = $1', [s.wanted]);
      if (taken.rowCount) throw idDoesNotMatch(undefined, s.wanted);
    } else if (known.rows[0]) return known.rows[0].id;
    const inserted = await client.query<{ id: number }>(
      `insert into registry_schemas (id, schema_type, schema_text, canonical, fingerprint, refs, metadata, rule_set)
       values (coalesce($1, nextval('registry_schemas_id_seq')), 'AVRO', $2, $3, $4, $5, $6, $7) returning id`,
      [
        s.wanted ?? null,
        s.text,
        s.canonical,
        s.fingerprint,
        JSON.stringify(s.references),
        s.metadata === null ? null : JSON.stringify(s.metadata),
        s.ruleSet === null ? null : JSON.stringify(s.ruleSet),
      ],
    );
    // Ids given by an import must never be handed out again.
    if (s.wanted !== undefined)
      await client.query(
        `select setval('registry_schemas_id_seq', greatest((select max(id) from registry_schemas), (select last_value from registry_schemas_id_seq)))`,
      );
    return inserted.rows[0]?.id as number;
  }

  private async nextVersion(client: SqlClient, subject: string, wanted: unknown): Promise<number> {
    if (wanted !== undefined) {
      if (!Number.isInteger(wanted) || (wanted as number) < 1)
        throw invalidSchema(
          `Invalid schema: version must be a positive integer, got ${JSON.stringify(wanted)}`,
        );
      const taken = await client.query(
        'select 1 from registry_versions where subject = $1 and version = $2',
        [subject, wanted],
      );
      if (taken.rowCount)
        throw operationNotPermitted(
          `Subject ${subject} already has a version ${wanted}: an import cannot replace it`,
        );
      return wanted as number;
    }
    const { rows } = await client.query<{ next: number }>(
      'select coalesce(max(version), 0) + 1 as next from registry_versions where subject = $1',
      [subject],
    );
    return rows[0]?.next ?? 1;
  }

  /** POST /subjects/{s}: the version holding this schema (and, when given, these metadata and rule set). */
  async lookup(subject: string, request: SchemaRequest, includeDeleted: boolean): Promise<Json> {
    const references = referencesOf(request.references);
    const parsed = await parseSchema(this.pool, request.schema, request.schemaType, references);
    const versions = await this.versions(this.pool, subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const metadata = objectOrNull('metadata', request.metadata);
    const ruleSet = objectOrNull('ruleSet', request.ruleSet);
    const match = [...versions]
      .reverse()
      .find(
        (v) =>
          v.canonical === parsed.canonical &&
          same(v.references, references) &&
          (metadata === null || same(v.metadata, metadata)) &&
          (ruleSet === null || same(v.ruleSet, ruleSet)),
      );
    if (!match) throw schemaNotFound();
    return entity(match);
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

  /** Ids of the schemas (with a live version) that reference this subject version. */
  async referencedBy(db: SqlPool | SqlClient, subject: string, version: number): Promise<number[]> {
    const { rows } = await db.query<{ id: number }>(
      `select distinct s.id from registry_schemas s join registry_versions v on v.schema_id = s.id
        where not v.deleted and s.refs @> $1::jsonb order by s.id`,
      [JSON.stringify([{ subject, version }])],
    );
    return rows.map((r) => r.id);
  }

  /** The subject's mode, refusing writes in a read-only one (42205). */
  private async writable(client: SqlClient, subject: string): Promise<Mode> {
    const mode = await modeOf(client, subject);
    if (mode === 'READONLY' || mode === 'READONLY_OVERRIDE')
      throw operationNotPermitted(`Subject ${subject} is in read-only mode`);
    return mode;
  }

  async deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.tx(async (client) => {
      await this.lockSubject(client, subject);
      await this.writable(client, subject);
      const all = await this.versions(client, subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const active = all.filter((v) => !v.deleted);
      for (const v of all)
        if ((await this.referencedBy(client, subject, v.version)).length)
          throw referenceExists(subject, v.version);
      if (permanent) {
        if (active.length) throw subjectNotSoftDeleted(subject);
        await client.query('delete from registry_versions where subject = $1', [subject]);
        await client.query('delete from registry_config where subject = $1', [subject]);
        await client.query('delete from registry_mode where subject = $1', [subject]);
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
      await this.writable(client, subject);
      const all = await this.versions(client, subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const active = all.filter((v) => !v.deleted);
      const target = ref === 'latest' ? active[active.length - 1] : all.find((v) => v.version === ref);
      if (!target) throw versionNotFound(ref);
      if ((await this.referencedBy(client, subject, target.version)).length)
        throw referenceExists(subject, target.version);
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

  /**
   * Is `schemaText` compatible with the subject? Against one version (`ref`), in the subject's mode's
   * direction; or, without `ref`, against every version the mode names (all of them when transitive).
   */
  async testCompatibility(
    subject: string,
    ref: VersionRef | undefined,
    request: SchemaRequest,
  ): Promise<{ compatible: boolean; messages: string[] }> {
    const parsed = await parseSchema(
      this.pool,
      request.schema,
      request.schemaType,
      referencesOf(request.references),
    );
    const config = await effectiveConfig(this.pool, subject);
    const mode = config.compatibilityLevel ?? 'BACKWARD';
    const active = await this.versions(this.pool, subject, false);
    let against = RegistryStore.group(config, active, objectOrNull('metadata', request.metadata));
    let effective = mode;
    if (ref !== undefined) {
      if (active.length === 0) throw subjectNotFound(subject);
      const target = ref === 'latest' ? active[active.length - 1] : active.find((v) => v.version === ref);
      if (!target) throw versionNotFound(ref);
      against = [target];
      effective = mode.replace('_TRANSITIVE', '') as CompatibilityMode;
    }
    const messages = (await compatibilityProblems(this.pool, parsed, against, effective)).map(
      (m) => `subject "${subject}" ${m}`,
    );
    return { compatible: messages.length === 0, messages };
  }
}
