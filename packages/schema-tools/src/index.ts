/**
 * @accord/schema-tools: the schemas folder as a catalog (references inlined), TypeScript codegen per
 * schemas/codegen.json target, and registering a catalog with a registry. Build-time and operator tooling:
 * agents and services use the generated catalog through @accord/sdk, never this package.
 */
export { type CatalogEntry, loadSchemaCatalog } from './catalog';
export { type GenerateOptions, generateTypes } from './codegen';
export {
  CODEGEN_FILE,
  type CodegenTarget,
  type GenerateResult,
  generateSchemaTypes,
  loadCodegenTargets,
} from './generate';
export { parseJsonFile } from './json-file';
export { type RegisteredSubject, registerSchemaCatalog } from './register';
export { catalogFromEntries } from './runtime';
