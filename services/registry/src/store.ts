import { createHash } from 'node:crypto';
import {
  type CompatibilityMode,
  checkCompatibility,
  inTransaction,
  type ParsedSchema,
  parseAvroSchema,
  type SqlClient,
  type SqlPool,
  stableStringify,
} from '@accord/sdk';
import {
  HttpError,
  incompatible,
  invalidSchema,
  refuseNul,
  schemaNotFound,
  subjectNotFound,
  subjectNotSoftDeleted,
  subjectSoftDeleted,
  versionNotFound,
  versionNotSoftDeleted,
  versionSoftDeleted,
} from './errors';
import { effectiveConfig, modeOf, operationNotPermitted, type RegistryConfig } from './settings';

export interface Reference {
  name: string;
  subject: string;
  version: number;
}

type Json = Record<string, unknown>;

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

/** `latest` (or -1) or a version number. */
export type VersionRef = number | 'latest';

const VERSION_COLUMNS = `v.subject, v.version, v.schema_id as id, s.schema_text as schema, s.canonical, s.fingerprint,
  s.refs as "references", s.metadata, s.rule_set as "ruleSet", v.deleted`;

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

function objectOrNull(name: string, value: unknown): Json | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidSchema(`Invalid schema: ${name} must be an object, got ${JSON.stringify(value)}`);
  refuseNul(name, value, (m) => invalidSchema(`Invalid schema: ${m}`));
  return value as Json;
}

function referencesOf(value: unknown): Reference[] {
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
function mergeMetadata(base: Json | null | undefined, over: Json | null | undefined): Json | null {
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

function mergeRuleSet(base: Json | null | undefined, over: Json | null | undefined): Json | null {
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
const same = (a: unknown, b: unknown) => stableStringify(a ?? null) === stableStringify(b ?? null);

export const referenceExists = (subject: string, version: number) =>
  new HttpError(
    422,
    42206,
    `One or more references exist to the schema {subject=${subject},version=${version}}`,
  );

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

  /**
   * The texts of a schema's references, dependencies first (references of references included), each
   * checked to exist: a reference to a missing subject or version is an invalid schema.
   */
  async resolve(
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
      out.push(...(await this.resolve(db, row.references, seen)), row.schema);
    }
    return out;
  }

  async parse(
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
    const resolved = await this.resolve(db, references);
    try {
      return parseAvroSchema(schemaText, { references: resolved });
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
      `select ${VERSION_COLUMNS} from registry_versions v join registry_schemas s on s.id = v.schema_id
        where v.subject = $1 and ($2 or not v.deleted) order by v.version`,
      [subject, includeDeleted],
    );
    return rows;
  }

  /** The compatibility problems of `candidate` against `previous`, each parsed with its references. */
  private async problems(
    db: SqlPool | SqlClient,
    candidate: ParsedSchema,
    previous: VersionRow[],
    mode: CompatibilityMode,
  ): Promise<string[]> {
    const versions = [];
    for (const v of previous)
      versions.push({
        version: v.version,
        type: parseAvroSchema(v.schema, { references: await this.resolve(db, v.references) }).type,
      });
    return checkCompatibility(candidate.type, versions, mode).messages;
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
      const mode = await modeOf(client, subject);
      if (mode === 'READONLY' || mode === 'READONLY_OVERRIDE')
        throw operationNotPermitted(`Subject ${subject} is in read-only mode`);
      const importing = mode === 'IMPORT';
      if (request.id !== undefined && !importing)
        throw operationNotPermitted(`Subject ${subject} is not in import mode: an id cannot be given`);
      const config = await effectiveConfig(client, subject);
      const parsed = await this.parse(client, request.schema, request.schemaType, references);
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
        const problems = await this.problems(
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
    const parsed = await this.parse(this.pool, request.schema, request.schemaType, references);
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

  async subjects(includeDeleted: boolean, prefix = ''): Promise<string[]> {
    const { rows } = await this.pool.query<{ subject: string }>(
      `select distinct subject from registry_versions where ($1 or not deleted) and starts_with(subject, $2)
        order by subject`,
      [includeDeleted, prefix],
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

  /** Ids of the schemas (with a live version) that reference this subject version. */
  async referencedBy(db: SqlPool | SqlClient, subject: string, version: number): Promise<number[]> {
    const { rows } = await db.query<{ id: number }>(
      `select distinct s.id from registry_schemas s join registry_versions v on v.schema_id = s.id
        where not v.deleted and s.refs @> $1::jsonb order by s.id`,
      [JSON.stringify([{ subject, version }])],
    );
    return rows.map((r) => r.id);
  }

  private async writable(client: SqlClient, subject: string): Promise<void> {
    const mode = await modeOf(client, subject);
    if (mode === 'READONLY' || mode === 'READONLY_OVERRIDE')
      throw operationNotPermitted(`Subject ${subject} is in read-only mode`);
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

  /** GET /schemas/ids/{id} (or by GUID): the schema as registered, with its references, metadata and rules. */
  async schemaById(id: number | { guid: string }): Promise<Json & { schema: string }> {
    const byGuid = typeof id === 'object';
    const { rows } = await this.pool.query<{
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

  /**
   * Is `schemaText` compatible with the subject? Against one version (`ref`), in the subject's mode's
   * direction; or, without `ref`, against every version the mode names (all of them when transitive).
   */
  async testCompatibility(
    subject: string,
    ref: VersionRef | undefined,
    request: SchemaRequest,
  ): Promise<{ compatible: boolean; messages: string[] }> {
    const parsed = await this.parse(
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
    const messages = (await this.problems(this.pool, parsed, against, effective)).map(
      (m) => `subject "${subject}" ${m}`,
    );
    return { compatible: messages.length === 0, messages };
  }
}

export const idDoesNotMatch = (existing: number | undefined, wanted: unknown) =>
  new HttpError(
    422,
    42207,
    existing === undefined
      ? `Schema id ${JSON.stringify(wanted)} is already used by another schema`
      : `The given id ${JSON.stringify(wanted)} does not match the schema's id ${existing}`,
  );
