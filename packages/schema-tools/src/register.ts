import { type CompatibilityMode, REPLAYABLE_DEFAULT_MODE, RegistryHttpClient } from '@accord/sdk';
import type { CatalogEntry } from './catalog';

export interface RegisteredSubject {
  subject: string;
  id: number;
  version: number;
  action: 'registered' | 'unchanged';
}

/**
 * Registers every catalog schema under its full name (RecordNameStrategy), giving new subjects `mode`.
 * Idempotent: an already registered schema is reported unchanged. An incompatible one fails with 409.
 */
export async function registerSchemaCatalog(
  registryUrl: string,
  entries: CatalogEntry[],
  mode: CompatibilityMode = REPLAYABLE_DEFAULT_MODE,
): Promise<RegisteredSubject[]> {
  const registry = new RegistryHttpClient(registryUrl);
  const rows: RegisteredSubject[] = [];
  for (const entry of entries) {
    const schema = JSON.stringify(entry.json);
    if ((await registry.subjectCompatibility(entry.fullName)) === undefined) {
      await registry.setSubjectCompatibility(entry.fullName, mode);
    }
    const before = await registry.lookup(entry.fullName, schema);
    if (before) {
      rows.push({ subject: entry.fullName, id: before.id, version: before.version, action: 'unchanged' });
      continue;
    }
    const { id } = await registry.register(entry.fullName, schema);
    const after = await registry.lookup(entry.fullName, schema);
    rows.push({ subject: entry.fullName, id, version: after?.version ?? 0, action: 'registered' });
  }
  return rows;
}
