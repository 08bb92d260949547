import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { loadSchemaCatalog } from './catalog';
import { generateTypes } from './codegen';
import { parseJsonFile } from './json-file';

/**
 * schemas/codegen.json: which records go into which generated file. The platform's records go into the
 * SDK; each domain's into its own package, importing the platform records it refers to. A user's domain
 * is one more target.
 */
export const CODEGEN_FILE = join('schemas', 'codegen.json');

const Target = z.strictObject({
  namespaces: z.array(z.string().regex(/^[a-z][a-z0-9_.]*$/, 'a dotted lower-case namespace')).min(1),
  out: z.string().regex(/\.ts$/, 'a .ts file relative to the project root'),
  importFrom: z.string().min(1).optional(),
});
const CodegenFile = z.strictObject({ targets: z.array(Target).min(1) });
export type CodegenTarget = z.infer<typeof Target>;

export function loadCodegenTargets(root: string): CodegenTarget[] {
  return parseJsonFile(join(root, CODEGEN_FILE), CodegenFile).targets;
}

export interface GenerateResult {
  path: string;
  schemas: number;
  /** False when the file on disk differs from what the schemas generate. */
  upToDate: boolean;
}

const inNamespaces = (namespaces: string[]) => (fullName: string) =>
  namespaces.some((ns) => fullName.startsWith(`${ns}.`));

/** Regenerates every target of schemas/codegen.json from `<root>/schemas`; with `check`, only compares. */
export function generateSchemaTypes(root: string, { check = false } = {}): GenerateResult[] {
  const entries = loadSchemaCatalog(join(root, 'schemas'));
  return loadCodegenTargets(root).map((target) => {
    const include = inNamespaces(target.namespaces);
    const text = generateTypes(entries, {
      include,
      ...(target.importFrom ? { importFrom: target.importFrom } : {}),
    });
    const path = join(root, target.out);
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // missing: stale
    }
    const upToDate = current === text;
    if (!check && !upToDate) writeFileSync(path, text);
    return { path, schemas: entries.filter((e) => include(e.fullName)).length, upToDate };
  });
}
