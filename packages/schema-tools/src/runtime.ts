import { defineCatalog, type EventCatalog } from '@accord/sdk';
import type { CatalogEntry } from './catalog';

/**
 * A run-time catalog from the schemas folder: what an operator tool (the CLI publishing any event type of
 * the project) uses when it has no generated types. Entity types come from each record's `accord.entity`.
 */
export function catalogFromEntries(entries: CatalogEntry[]): EventCatalog {
  const schemas: Record<string, unknown> = {};
  const entities: Record<string, string> = {};
  for (const entry of entries) {
    if (entry.fullName.startsWith('accord.platform.')) continue;
    schemas[entry.fullName] = entry.json;
    const entity = (entry.json as Record<string, unknown>)['accord.entity'];
    if (typeof entity === 'string') entities[entry.fullName] = entity;
  }
  return defineCatalog({ schemas, entities }) as unknown as EventCatalog;
}
