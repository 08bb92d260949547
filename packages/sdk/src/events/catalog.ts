import type { Type } from 'avsc';
import { Type as AvroType } from 'avsc';
import { AccordError, SchemaValidationError } from '../errors';
import { SCHEMAS as PLATFORM_SCHEMAS, type SchemaTypes as PlatformTypes } from '../schemas/types.generated';
import { eventsTopic, proposalsTopic } from './topics';

export type { PlatformTypes };

/**
 * What a domain brings to the platform: its schemas and which entity each event type is about. This is
 * exactly what `accord schemas generate` writes for a domain (its SCHEMAS and EVENT_ENTITY_TYPES), so a
 * user's domain plugs in the way the reference domain does: `defineCatalog<SchemaTypes>({ schemas, entities })`.
 */
export interface CatalogDefinition {
  /** Full name → self-contained Avro schema (references inlined). */
  schemas: { readonly [fullName: string]: unknown };
  /** Event type (full name) → the entity type it is about: it names the topic and the key. */
  entities: { readonly [eventType: string]: string };
}

/** A map from schema full name to its TypeScript type, as codegen writes `SchemaTypes`. */
export type TypeMap = object;

/** The type map of a catalog known only at run time (read from .avsc files): any name, any fields. */
export type AnyEvents = Record<string, { envelope: unknown } & Record<string, unknown>>;

/** The event types of a type map: records whose first field is the envelope. */
export type EventName<Types extends TypeMap> = {
  [K in keyof Types]: Types[K] extends { envelope: unknown } ? K : never;
}[keyof Types] &
  string;

/** An event's own fields: everything but the envelope, which the publisher fills. */
export type EventData<Types extends TypeMap, N extends keyof Types> = Omit<Types[N], 'envelope'>;

export interface ValidationIssue {
  path: string;
  expected: string;
  actual: string;
}

/** A catalog of any domain, for code that needs only its run-time knowledge (topics, entity types). */
// biome-ignore lint/suspicious/noExplicitAny: whatever its type map, a catalog answers the same questions
export type SomeCatalog = EventCatalog<any>;

/** What a serde needs of a catalog: the schemas by name. */
export interface SchemaSource {
  has(name: string): boolean;
  schema(name: string): unknown;
  avroType(name: string): Type;
  validate(name: string, value: unknown): void;
}

const NAME_PART = /^[a-z][a-z0-9_]*$/;

/**
 * The schemas the platform knows at run time: its own records (envelope, proposal, decision, dead letter)
 * plus those of the domain catalogs given. Answers the questions the publisher, serde and owners ask: is
 * this an event type, which entity is it about, what topic does that entity live on, is this value valid.
 */
export class EventCatalog<Types extends TypeMap = AnyEvents> implements SchemaSource {
  private readonly schemas = new Map<string, unknown>();
  private readonly entities = new Map<string, string>();
  private readonly domains = new Map<string, string>();
  private readonly types = new Map<string, Type>();
  /** Short names resolved to full ones (publishing resolves one per event). */
  private readonly resolved = new Map<string, EventName<Types>>();

  constructor(definitions: CatalogDefinition[] = []) {
    for (const [name, schema] of Object.entries(PLATFORM_SCHEMAS)) this.schemas.set(name, schema);
    for (const definition of definitions) {
      for (const [name, schema] of Object.entries(definition.schemas)) {
        if (this.schemas.has(name) && !name.startsWith('accord.platform.'))
          throw new AccordError('CONFIG_INVALID', `catalog: schema ${name} is defined twice`);
        this.schemas.set(name, schema);
      }
      for (const [eventType, entity] of Object.entries(definition.entities)) {
        if (!this.schemas.has(eventType))
          throw new AccordError(
            'CONFIG_INVALID',
            `catalog: entity map names ${eventType}, which has no schema`,
          );
        const domain = domainOf(eventType);
        if (!NAME_PART.test(entity) || !NAME_PART.test(domain))
          throw new AccordError(
            'CONFIG_INVALID',
            `catalog: ${eventType} → entity "${entity}": domain and entity type must match ${NAME_PART}`,
          );
        const known = this.domains.get(entity);
        if (known && known !== domain)
          throw new AccordError(
            'CONFIG_INVALID',
            `catalog: entity type "${entity}" has events in two domains (${known}, ${domain})`,
          );
        this.domains.set(entity, domain);
        this.entities.set(eventType, entity);
      }
    }
  }

  /** A catalog with these definitions added (catalogs are immutable). */
  with<More extends TypeMap>(definition: CatalogDefinition): EventCatalog<Types & More> {
    return new EventCatalog<Types & More>([...this.definitions(), definition]);
  }

  private definitions(): CatalogDefinition[] {
    return [{ schemas: Object.fromEntries(this.schemas), entities: Object.fromEntries(this.entities) }];
  }

  has(name: string): boolean {
    return this.schemas.has(name);
  }

  names(): string[] {
    return [...this.schemas.keys()].sort();
  }

  /** The schema as its domain wrote it (docs and attributes kept): what the registry stores. */
  schema(name: string): unknown {
    const schema = this.schemas.get(name);
    if (schema === undefined) throw this.unknown(name);
    return schema;
  }

  /** The avsc Type of a schema of the catalog (cached). */
  avroType(name: string): Type {
    let type = this.types.get(name);
    if (!type) {
      type = AvroType.forSchema(this.schema(name) as Parameters<typeof AvroType.forSchema>[0]);
      this.types.set(name, type);
    }
    return type;
  }

  /** Validates `value` against a schema; throws SchemaValidationError naming every bad field path. */
  validate(name: string, value: unknown): void {
    const type = this.avroType(name);
    // Valid values (nearly all) pass avsc's plain check; only an invalid one is walked again with the
    // hook that names each field at fault (the hook tracks paths: several times slower).
    if (type.isValid(value)) return;
    const issues: ValidationIssue[] = [];
    type.isValid(value, {
      errorHook: (path: string[], actual: unknown, type: Type) => {
        issues.push({
          path: path.join('.') || '(record)',
          expected: (type as unknown as { name?: string }).name ?? type.toString(),
          actual: actual === undefined ? 'missing' : (JSON.stringify(actual)?.slice(0, 80) ?? String(actual)),
        });
      },
    });
    if (issues.length) {
      const detail = issues.map((i) => `${i.path}: expected ${i.expected}, got ${i.actual}`).join('; ');
      throw new SchemaValidationError(`invalid ${name}: ${detail}`, issues);
    }
  }

  isEventName(name: string): name is EventName<Types> {
    const schema = this.schemas.get(name) as { fields?: readonly { name: string }[] } | undefined;
    return schema?.fields?.[0]?.name === 'envelope';
  }

  eventNames(): EventName<Types>[] {
    return this.names().filter((n): n is EventName<Types> => this.isEventName(n));
  }

  /** Accepts a full name (accord.commerce.OrderPlaced) or a unique short one (OrderPlaced). */
  resolveEventName(name: string): EventName<Types> {
    const known = this.resolved.get(name);
    if (known !== undefined) return known;
    if (this.isEventName(name)) return name;
    const matches = this.eventNames().filter((full) => full.endsWith(`.${name}`));
    if (matches.length === 1) {
      this.resolved.set(name, matches[0] as EventName<Types>); // a catalog never changes: safe to keep
      return matches[0] as EventName<Types>;
    }
    throw new AccordError(
      'EVENT_TYPE_UNKNOWN',
      matches.length > 1
        ? `event type "${name}" is ambiguous: ${matches.join(', ')}`
        : `unknown event type "${name}" (known: ${this.eventNames().join(', ')}); is its domain's catalog given?`,
    );
  }

  /** The entity type an event type is about, from its schema's `accord.entity` attribute. */
  entityTypeOf(eventType: string): string | undefined {
    return this.entities.get(eventType);
  }

  entityTypes(): string[] {
    return [...this.domains.keys()].sort();
  }

  /** Event types about an entity type. */
  eventTypesOf(entityType: string): string[] {
    return [...this.entities].filter(([, e]) => e === entityType).map(([t]) => t);
  }

  /** commerce for order: the domain of the event types about that entity. */
  domainOfEntity(entityType: string): string {
    const domain = this.domains.get(entityType);
    if (domain) return domain;
    throw new AccordError(
      'EVENT_INVALID',
      `unknown entity type "${entityType}" (known: ${this.entityTypes().join(', ') || 'none'})`,
    );
  }

  eventsTopic(entityType: string): string {
    return eventsTopic(entityType, this.domainOfEntity(entityType));
  }

  proposalsTopic(entityType: string): string {
    return proposalsTopic(entityType, this.domainOfEntity(entityType));
  }

  private unknown(name: string): AccordError {
    return new AccordError(
      'EVENT_TYPE_UNKNOWN',
      `schema ${name} is not in the catalog (known: ${this.names().join(', ')})`,
    );
  }
}

/** accord.commerce.OrderPlaced → commerce */
export function domainOf(eventType: string): string {
  const parts = eventType.split('.');
  return parts.length >= 3 ? (parts[parts.length - 2] ?? '') : '';
}

/** The platform's own records only: what a process that publishes no domain events needs. */
export const PLATFORM_CATALOG = new EventCatalog<PlatformTypes>();

/** A catalog of the platform records plus one domain (or several: `.with(...)`). */
export function defineCatalog<Types extends TypeMap>(
  definition: CatalogDefinition,
): EventCatalog<PlatformTypes & Types> {
  return new EventCatalog<PlatformTypes & Types>([definition]);
}
