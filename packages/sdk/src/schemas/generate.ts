import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSchemaCatalog } from './catalog';
import { generateTypes } from './codegen';

/** Where the generated types live, relative to the project root. */
export const GENERATED_TYPES_PATH = join('packages', 'sdk', 'src', 'schemas', 'types.generated.ts');

export interface GenerateResult {
  path: string;
  schemas: number;
  /** False when the file on disk differs from what the schemas generate. */
  upToDate: boolean;
}

/** Regenerates the TypeScript types from `<root>/schemas`; with `check`, only compares. */
export function generateSchemaTypes(root: string, { check = false } = {}): GenerateResult {
  const entries = loadSchemaCatalog(join(root, 'schemas'));
  const text = generateTypes(entries);
  const path = join(root, GENERATED_TYPES_PATH);
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // missing: stale
  }
  const upToDate = current === text;
  if (!check && !upToDate) writeFileSync(path, text);
  return { path, schemas: entries.length, upToDate };
}
