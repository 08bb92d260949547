import { AccordError, RegistryError } from '../errors';
import type { RegisteredSchema, RegistryHttpClient, RegistryMode } from './registry-client';

/**
 * Moving a registry's schemas to another Confluent-compatible registry, ids and versions kept (the wire
 * format carries ids: records written against the source decode against the target). Export reads every
 * live version with its references, metadata and rule set, and the configs; import registers them in
 * IMPORT mode, referenced schemas first, then restores the configs and the mode it found.
 */
export const EXPORT_FORMAT = 'accord-registry-export/1';

export interface ExportedVersion extends RegisteredSchema {
  version: number;
  id: number;
}

export interface RegistryExport {
  format: typeof EXPORT_FORMAT;
  exportedFrom: string;
  exportedAt: string;
  config: Record<string, unknown> | undefined;
  subjects: { subject: string; config?: Record<string, unknown>; versions: ExportedVersion[] }[];
}

export async function exportRegistry(client: RegistryHttpClient, from: string): Promise<RegistryExport> {
  const subjects: RegistryExport['subjects'] = [];
  for (const subject of await client.subjects()) {
    const versions: ExportedVersion[] = [];
    for (const version of await client.versions(subject)) {
      const v = await client.version(subject, version);
      versions.push({
        version: v.version,
        id: v.id,
        schema: v.schema,
        ...(v.schemaType && v.schemaType !== 'AVRO' ? { schemaType: v.schemaType } : {}),
        ...(v.references?.length ? { references: v.references } : {}),
        ...(v.metadata ? { metadata: v.metadata } : {}),
        ...(v.ruleSet ? { ruleSet: v.ruleSet } : {}),
      });
    }
    const config = await client.config(subject);
    subjects.push({ subject, ...(config ? { config } : {}), versions });
  }
  return {
    format: EXPORT_FORMAT,
    exportedFrom: from,
    exportedAt: new Date().toISOString(),
    config: await client.config(),
    subjects,
  };
}

export interface ImportResult {
  imported: number;
  /** Versions the target already had, with the same id (an import run again). */
  existing: number;
  subjects: number;
}

/** GET /config answers compatibilityLevel; PUT takes compatibility. */
function toUpdate(config: Record<string, unknown>): Record<string, unknown> {
  const { compatibilityLevel, ...rest } = config;
  return { ...rest, ...(compatibilityLevel ? { compatibility: compatibilityLevel } : {}) };
}

export async function importRegistry(
  client: RegistryHttpClient,
  data: RegistryExport,
  options: { force?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<ImportResult> {
  if (data?.format !== EXPORT_FORMAT || !Array.isArray(data.subjects))
    throw new AccordError('USAGE', `not an export of accord schemas export (format ${EXPORT_FORMAT})`);
  const pending = data.subjects.flatMap((s) => s.versions.map((v) => ({ subject: s.subject, ...v })));
  const total = pending.length;
  const done = new Set<string>();
  const key = (subject: string, version: number) => `${subject}\u0000${version}`;
  const before: RegistryMode = await client.mode();
  await client.setMode('IMPORT', options.force ? { force: true } : {});
  let imported = 0;
  let existing = 0;
  try {
    // Referenced versions first: each pass registers what has all its references in place.
    while (pending.length > 0) {
      const ready = pending.filter((v) =>
        (v.references ?? []).every((r) => done.has(key(r.subject, r.version))),
      );
      if (ready.length === 0)
        throw new AccordError(
          'USAGE',
          `references that the export does not hold: ${pending.map((v) => `${v.subject} v${v.version}`).join(', ')}`,
        );
      for (const v of ready) {
        const { subject, version, id, ...schema } = v;
        const there = await client.version(subject, version).catch((error: unknown) => {
          if (error instanceof RegistryError && error.status === 404) return undefined;
          throw error;
        });
        if (there && there.id !== id)
          throw new RegistryError(
            422,
            42207,
            `${subject} v${version} is already in the target with id ${there.id}, not ${id}`,
          );
        if (there) existing++;
        else {
          const answer = await client.registerFull(subject, { ...schema, id, version });
          if (answer.id !== id || answer.version !== version)
            throw new RegistryError(
              422,
              42207,
              `${subject} v${version}: the target answered id ${answer.id} v${answer.version}, not id ${id}`,
            );
          imported++;
        }
        done.add(key(subject, version));
        pending.splice(pending.indexOf(v), 1);
        options.onProgress?.(done.size, total);
      }
    }
    for (const s of data.subjects) if (s.config) await client.setConfig(s.subject, toUpdate(s.config));
    if (data.config) await client.setConfig(undefined, toUpdate(data.config));
  } finally {
    await client.setMode(before === 'IMPORT' ? 'READWRITE' : before, { force: true });
  }
  return { imported, existing, subjects: data.subjects.length };
}
