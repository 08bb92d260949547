import { type CompatibilityMode, isCompatibilityMode, type SqlClient, type SqlPool } from '@accord/sdk';
import { HttpError, invalidCompatibility, refuseNul, subjectConfigNotFound } from './errors';

/**
 * Config and mode, globally (subject '') and per subject, as Confluent keeps them: a subject's setting
 * overrides the global one field by field.
 */
export interface RegistryConfig {
  compatibilityLevel?: CompatibilityMode;
  normalize?: boolean;
  compatibilityGroup?: string;
  defaultMetadata?: Record<string, unknown>;
  overrideMetadata?: Record<string, unknown>;
  defaultRuleSet?: Record<string, unknown>;
  overrideRuleSet?: Record<string, unknown>;
}

const COLUMNS: Record<Exclude<keyof RegistryConfig, 'compatibilityLevel'>, string> = {
  normalize: 'normalize',
  compatibilityGroup: 'compatibility_group',
  defaultMetadata: 'default_metadata',
  overrideMetadata: 'override_metadata',
  defaultRuleSet: 'default_rule_set',
  overrideRuleSet: 'override_rule_set',
};

export const MODES = ['READWRITE', 'READONLY', 'READONLY_OVERRIDE', 'IMPORT'] as const;
export type Mode = (typeof MODES)[number];

export const invalidMode = (value: unknown) =>
  new HttpError(422, 42204, `Invalid mode ${JSON.stringify(value)}. Valid values are ${MODES.join(', ')}`);
export const operationNotPermitted = (message: string) => new HttpError(422, 42205, message);
export const subjectModeNotFound = (subject: string) =>
  new HttpError(404, 40409, `Subject '${subject}' does not have subject-level mode configured`);

type Db = SqlPool | SqlClient;

interface ConfigRow {
  compatibility: CompatibilityMode | null;
  normalize: boolean | null;
  compatibility_group: string | null;
  default_metadata: Record<string, unknown> | null;
  override_metadata: Record<string, unknown> | null;
  default_rule_set: Record<string, unknown> | null;
  override_rule_set: Record<string, unknown> | null;
}

function fromRow(row: ConfigRow | undefined): RegistryConfig {
  if (!row) return {};
  const out: RegistryConfig = {};
  if (row.compatibility) out.compatibilityLevel = row.compatibility;
  if (row.normalize !== null) out.normalize = row.normalize;
  if (row.compatibility_group) out.compatibilityGroup = row.compatibility_group;
  if (row.default_metadata) out.defaultMetadata = row.default_metadata;
  if (row.override_metadata) out.overrideMetadata = row.override_metadata;
  if (row.default_rule_set) out.defaultRuleSet = row.default_rule_set;
  if (row.override_rule_set) out.overrideRuleSet = row.override_rule_set;
  return out;
}

async function configRow(db: Db, subject: string): Promise<ConfigRow | undefined> {
  const { rows } = await db.query<ConfigRow>(
    `select compatibility, normalize, compatibility_group, default_metadata, override_metadata,
            default_rule_set, override_rule_set from registry_config where subject = $1`,
    [subject],
  );
  return rows[0];
}

/** The settings in force for a subject: its own over the global ones, BACKWARD when none says. */
export async function effectiveConfig(db: Db, subject: string): Promise<RegistryConfig> {
  const global = fromRow(await configRow(db, ''));
  const own = subject === '' ? {} : fromRow(await configRow(db, subject));
  return { compatibilityLevel: 'BACKWARD', ...global, ...own };
}

/** GET /config[/{subject}]: the subject's own settings (40408 if none), or with defaultToGlobal the effective ones. */
export async function readConfig(db: Db, subject: string | undefined, defaultToGlobal: boolean) {
  if (subject === undefined || defaultToGlobal) return effectiveConfig(db, subject ?? '');
  const row = await configRow(db, subject);
  if (!row) throw subjectConfigNotFound(subject);
  return fromRow(row);
}

function object(name: string, value: unknown): Record<string, unknown> | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new HttpError(422, 42203, `Invalid config: ${name} must be an object`);
  refuseNul(name, value, (m) => new HttpError(422, 42203, `Invalid config: ${m}`));
  return value as Record<string, unknown>;
}

/** PUT /config[/{subject}]: sets the fields given (null clears one); answers with them (Confluent's shape). */
export async function writeConfig(db: Db, subject: string | undefined, body: Record<string, unknown>) {
  const set: Record<string, unknown> = {};
  const answer: Record<string, unknown> = {};
  if (body.compatibility !== undefined || body.compatibilityLevel !== undefined) {
    const raw = body.compatibility ?? body.compatibilityLevel;
    const mode = typeof raw === 'string' ? raw.toUpperCase() : raw;
    if (!isCompatibilityMode(mode)) throw invalidCompatibility(raw);
    set.compatibility = mode;
    answer.compatibility = mode;
  }
  if (body.normalize !== undefined) {
    if (body.normalize !== null && typeof body.normalize !== 'boolean')
      throw new HttpError(422, 42203, 'Invalid config: normalize must be true or false');
    set.normalize = body.normalize;
    answer.normalize = body.normalize;
  }
  if (body.compatibilityGroup !== undefined) {
    if (body.compatibilityGroup !== null && typeof body.compatibilityGroup !== 'string')
      throw new HttpError(422, 42203, 'Invalid config: compatibilityGroup must be a metadata property name');
    refuseNul(
      'compatibilityGroup',
      body.compatibilityGroup,
      (m) => new HttpError(422, 42203, `Invalid config: ${m}`),
    );
    set.compatibility_group = body.compatibilityGroup;
    answer.compatibilityGroup = body.compatibilityGroup;
  }
  for (const key of ['defaultMetadata', 'overrideMetadata', 'defaultRuleSet', 'overrideRuleSet'] as const)
    if (body[key] !== undefined) {
      const value = object(key, body[key]);
      set[COLUMNS[key]] = value === null ? null : JSON.stringify(value);
      answer[key] = value;
    }
  const columns = Object.keys(set);
  if (columns.length === 0)
    throw new HttpError(
      422,
      42203,
      'Invalid config: give compatibility, normalize, compatibilityGroup or metadata/rule set defaults',
    );
  // Column names come from the fixed list above, never from the request.
  await db.query(
    `insert into registry_config (subject, ${columns.join(', ')}) values ($1, ${columns.map((_, i) => `$${i + 2}`).join(', ')})
     on conflict (subject) do update set ${columns.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    [subject ?? '', ...columns.map((c) => set[c])],
  );
  return answer;
}

/** DELETE /config[/{subject}]: removes the subject's settings (the global ones go back to BACKWARD). */
export async function deleteConfig(db: Db, subject: string | undefined) {
  if (subject === undefined) {
    const before = await effectiveConfig(db, '');
    await db.query(
      `update registry_config set compatibility = 'BACKWARD', normalize = null, compatibility_group = null,
         default_metadata = null, override_metadata = null, default_rule_set = null, override_rule_set = null
       where subject = ''`,
    );
    return before;
  }
  const row = await configRow(db, subject);
  if (!row) throw subjectConfigNotFound(subject);
  await db.query('delete from registry_config where subject = $1', [subject]);
  return fromRow(row);
}

export async function modeOf(db: Db, subject: string): Promise<Mode> {
  const { rows } = await db.query<{ mode: Mode }>(
    `select mode from registry_mode where subject = $1 or subject = '' order by subject desc limit 1`,
    [subject],
  );
  return rows[0]?.mode ?? 'READWRITE';
}

export async function readMode(db: Db, subject: string | undefined, defaultToGlobal: boolean) {
  if (subject === undefined || defaultToGlobal) return { mode: await modeOf(db, subject ?? '') };
  const { rows } = await db.query<{ mode: Mode }>('select mode from registry_mode where subject = $1', [
    subject,
  ]);
  if (!rows[0]) throw subjectModeNotFound(subject);
  return { mode: rows[0].mode };
}

/**
 * PUT /mode[/{subject}]. IMPORT takes ids from the caller, so it is refused while there are schemas the
 * ids could collide with (globally: any subject; per subject: that subject), unless force.
 */
export async function writeMode(db: Db, subject: string | undefined, raw: unknown, force: boolean) {
  const mode = typeof raw === 'string' ? raw.toUpperCase() : raw;
  if (!(MODES as readonly unknown[]).includes(mode)) throw invalidMode(raw);
  if (mode === 'IMPORT' && !force) {
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from registry_versions where ($1::text is null or subject = $1) and not deleted`,
      [subject ?? null],
    );
    if ((rows[0]?.n ?? 0) > 0)
      throw operationNotPermitted(
        `Cannot import since found existing subjects${subject ? ` (${subject} has versions)` : ''}; set force=true to import anyway`,
      );
  }
  await db.query(
    'insert into registry_mode (subject, mode) values ($1, $2) on conflict (subject) do update set mode = excluded.mode',
    [subject ?? '', mode],
  );
  return { mode };
}

export async function deleteMode(db: Db, subject: string) {
  const { rows } = await db.query<{ mode: Mode }>(
    'delete from registry_mode where subject = $1 returning mode',
    [subject],
  );
  if (!rows[0]) throw subjectModeNotFound(subject);
  return { mode: rows[0].mode };
}
