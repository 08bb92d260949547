import { join } from 'node:path';
import { catalogFromEntries, loadSchemaCatalog } from '@accord/schema-tools';
import type { SomeCatalog } from '@accord/sdk';
import { projectRoot } from './stack/paths';

/**
 * The project's event types, read from its schemas folder (default <project>/schemas, or ACCORD_SCHEMAS_DIR):
 * the CLI publishes and routes any domain's events without generated types.
 */
export function projectCatalog(
  dir = process.env.ACCORD_SCHEMAS_DIR ?? join(projectRoot(), 'schemas'),
): SomeCatalog {
  return catalogFromEntries(loadSchemaCatalog(dir));
}
