import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type AvroJson, InvalidSchemaError, parseAvroSchema } from '@accord/sdk';

/**
 * The schemas/ folder: one record per .avsc file, the source of truth for every event's shape.
 * A file may refer to a record defined in another file by its full name (e.g. every event's
 * `envelope` field is `accord.platform.EventEnvelope`); the catalog inlines such references so each
 * entry is a self-contained schema, which is what the registry stores.
 */
export interface CatalogEntry {
  /** Full name, e.g. accord.commerce.OrderPlaced: also the registry subject (RecordNameStrategy). */
  fullName: string;
  /** Path relative to the schemas folder. */
  file: string;
  json: AvroJson;
  /** The parsed schema (avsc Type), as parseAvroSchema returns it. */
  type: ReturnType<typeof parseAvroSchema>['type'];
}

type JsonObject = { [key: string]: unknown };

function fullNameOf(json: JsonObject, namespace: string | undefined): string {
  const name = String(json.name);
  if (name.includes('.')) return name;
  const ns = typeof json.namespace === 'string' ? json.namespace : namespace;
  return ns ? `${ns}.${name}` : name;
}

function listAvsc(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listAvsc(path));
    else if (name.endsWith('.avsc')) out.push(path);
  }
  return out;
}

/** Replaces references to records of other files by their definitions, the first time each appears. */
function inline(
  json: unknown,
  sources: Map<string, JsonObject>,
  defined: Set<string>,
  namespace?: string,
): unknown {
  if (typeof json === 'string') {
    const target = sources.get(json) ?? (namespace ? sources.get(`${namespace}.${json}`) : undefined);
    if (target && !defined.has(fullNameOf(target, undefined)))
      return inline(target, sources, defined, namespace);
    return json;
  }
  if (Array.isArray(json)) return json.map((j) => inline(j, sources, defined, namespace));
  if (json && typeof json === 'object') {
    const obj = json as JsonObject;
    let ns = namespace;
    if (
      (obj.type === 'record' || obj.type === 'enum' || obj.type === 'fixed' || obj.type === 'error') &&
      obj.name
    ) {
      const full = fullNameOf(obj, namespace);
      defined.add(full);
      ns = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : undefined;
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'type' || key === 'items' || key === 'values')
        out[key] = inline(value, sources, defined, ns);
      else if (key === 'fields' && Array.isArray(value)) {
        out[key] = value.map((f: JsonObject) => ({ ...f, type: inline(f.type, sources, defined, ns) }));
      } else out[key] = value;
    }
    return out;
  }
  return json;
}

export function loadSchemaCatalog(dir: string): CatalogEntry[] {
  const sources = new Map<string, JsonObject>();
  const files = new Map<string, string>();
  for (const path of listAvsc(dir)) {
    const file = relative(dir, path);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new InvalidSchemaError(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (!json || typeof json !== 'object' || Array.isArray(json) || !('name' in json)) {
      throw new InvalidSchemaError(`${file}: expected one named record, enum or fixed type`);
    }
    const fullName = fullNameOf(json as JsonObject, undefined);
    if (sources.has(fullName))
      throw new InvalidSchemaError(`${file}: ${fullName} is also defined in ${files.get(fullName)}`);
    sources.set(fullName, json as JsonObject);
    files.set(fullName, file);
  }
  return [...sources.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([fullName, source]) => {
      const json = inline(source, sources, new Set()) as AvroJson;
      try {
        return { fullName, file: files.get(fullName) ?? '', json, type: parseAvroSchema(json).type };
      } catch (error) {
        throw new InvalidSchemaError(`${files.get(fullName)}: ${(error as Error).message}`);
      }
    });
}
