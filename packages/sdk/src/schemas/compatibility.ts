import type { Type } from 'avsc';

/** The seven compatibility modes of the Confluent registry. */
export const COMPATIBILITY_MODES = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];

export function isCompatibilityMode(value: unknown): value is CompatibilityMode {
  return typeof value === 'string' && (COMPATIBILITY_MODES as readonly string[]).includes(value);
}

/** Topics that can be replayed need new code to read every old event: Accord's default policy. */
export const REPLAYABLE_DEFAULT_MODE: CompatibilityMode = 'BACKWARD_TRANSITIVE';

// The subset of avsc's Type surface the checker reads. avsc's typings don't expose these per class.
interface AnyType {
  typeName: string;
  name?: string;
  aliases?: string[];
  fields?: { name: string; type: AnyType; aliases: string[]; defaultValue(): unknown }[];
  symbols?: string[];
  default?: unknown;
  itemsType?: AnyType;
  valuesType?: AnyType;
  types?: AnyType[];
  size?: number;
}

const PROMOTIONS: Record<string, string[]> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
};

function kind(type: AnyType): string {
  return type.typeName.startsWith('union') ? 'union' : type.typeName === 'error' ? 'record' : type.typeName;
}

function describe(type: AnyType): string {
  const k = kind(type);
  if (k === 'union') return `union [${(type.types ?? []).map(describe).join(', ')}]`;
  return type.name ? `${k} ${type.name}` : k;
}

function shortName(name: string | undefined): string {
  return (name ?? '').split('.').pop() ?? '';
}

function sameName(reader: AnyType, writer: AnyType): boolean {
  if (shortName(reader.name) === shortName(writer.name)) return true;
  return (reader.aliases ?? []).some((a) => a === writer.name || shortName(a) === shortName(writer.name));
}

/**
 * Avro schema resolution (the spec's rules, as Confluent applies them): can data written with `writer` be
 * read with `reader`? Returns one readable issue per problem, each naming the field path; empty when it can.
 */
export function readIssues(readerType: Type, writerType: Type): string[] {
  const issues: string[] = [];
  const seen = new Set<string>();

  const visit = (reader: AnyType, writer: AnyType, path: string): void => {
    const rk = kind(reader);
    const wk = kind(writer);
    if (wk === 'union') {
      // Every branch the writer may have written must be readable.
      for (const branch of writer.types ?? []) visit(reader, branch, path);
      return;
    }
    if (rk === 'union') {
      const branches = reader.types ?? [];
      const fits = branches.some((branch) => {
        const before = issues.length;
        visit(branch, writer, path);
        const ok = issues.length === before;
        issues.length = before;
        return ok;
      });
      if (!fits)
        issues.push(
          `${path}: the reader's ${describe(reader)} has no branch for the writer's ${describe(writer)}`,
        );
      return;
    }
    if (rk !== wk) {
      if (!(PROMOTIONS[wk] ?? []).includes(rk)) {
        issues.push(`${path}: type changed from ${describe(writer)} to ${describe(reader)}`);
      }
      return;
    }
    switch (rk) {
      case 'record': {
        if (!sameName(reader, writer)) {
          issues.push(`${path}: record name changed from ${writer.name} to ${reader.name}`);
          return;
        }
        const key = `${reader.name}<-${writer.name}`;
        if (seen.has(key)) return; // recursive types: checked once
        seen.add(key);
        const writerFields = new Map((writer.fields ?? []).map((f) => [f.name, f]));
        for (const field of reader.fields ?? []) {
          const source =
            writerFields.get(field.name) ?? field.aliases.map((a) => writerFields.get(a)).find(Boolean);
          const fieldPath = `${path}.${field.name}`;
          if (source) visit(field.type, source.type, fieldPath);
          else if (field.defaultValue() === undefined) {
            issues.push(
              `${fieldPath}: field "${field.name}" has no default and is missing from the writer's schema`,
            );
          }
        }
        return;
      }
      case 'enum': {
        if (!sameName(reader, writer)) {
          issues.push(`${path}: enum name changed from ${writer.name} to ${reader.name}`);
          return;
        }
        if (reader.default !== undefined) return;
        const known = new Set(reader.symbols ?? []);
        const missing = (writer.symbols ?? []).filter((s) => !known.has(s));
        if (missing.length) {
          issues.push(
            `${path}: enum ${reader.name} lacks symbol(s) ${missing.join(', ')} that the writer may use (and has no default)`,
          );
        }
        return;
      }
      case 'fixed':
        if (!sameName(reader, writer) || reader.size !== writer.size) {
          issues.push(
            `${path}: fixed ${writer.name}(${writer.size}) cannot be read as ${reader.name}(${reader.size})`,
          );
        }
        return;
      case 'array':
        if (reader.itemsType && writer.itemsType) visit(reader.itemsType, writer.itemsType, `${path}[]`);
        return;
      case 'map':
        if (reader.valuesType && writer.valuesType) visit(reader.valuesType, writer.valuesType, `${path}{}`);
        return;
      default:
        return; // same primitive
    }
  };

  const root = readerType as unknown as AnyType;
  visit(root, writerType as unknown as AnyType, shortName(root.name) || kind(root));
  return issues;
}

export interface PreviousVersion {
  version: number;
  type: Type;
}

export interface CompatibilityResult {
  compatible: boolean;
  /** One message per broken rule, naming the version, the direction and the field. */
  messages: string[];
}

/**
 * Checks a candidate schema against earlier versions (oldest first) under a mode.
 * BACKWARD: the candidate reads data written with the latest version; FORWARD: the latest reads the
 * candidate's data; FULL: both. *_TRANSITIVE: against every earlier version, not only the latest.
 */
export function checkCompatibility(
  candidate: Type,
  previous: PreviousVersion[],
  mode: CompatibilityMode,
): CompatibilityResult {
  if (mode === 'NONE' || previous.length === 0) return { compatible: true, messages: [] };
  const against = mode.endsWith('_TRANSITIVE') ? previous : previous.slice(-1);
  const base = mode.replace('_TRANSITIVE', '');
  const messages: string[] = [];
  for (const { version, type } of against) {
    if (base === 'BACKWARD' || base === 'FULL') {
      for (const issue of readIssues(candidate, type)) {
        messages.push(
          `version ${version} (${mode}): the new schema cannot read data written with version ${version}: ${issue}`,
        );
      }
    }
    if (base === 'FORWARD' || base === 'FULL') {
      for (const issue of readIssues(type, candidate)) {
        messages.push(
          `version ${version} (${mode}): version ${version} cannot read data written with the new schema: ${issue}`,
        );
      }
    }
  }
  return { compatible: messages.length === 0, messages };
}
