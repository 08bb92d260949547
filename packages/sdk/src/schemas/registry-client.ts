import { describeError, RegistryError, UnavailableError } from '../errors';
import type { CompatibilityMode } from './compatibility';

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

/** A schema as the registry keeps it (Confluent's Schema entity, empty fields left out). */
export interface RegisteredSchema {
  schema: string;
  schemaType?: string;
  references?: SchemaReference[];
  metadata?: Record<string, unknown>;
  ruleSet?: Record<string, unknown>;
}

export interface SubjectVersion extends RegisteredSchema {
  subject: string;
  id: number;
  version: number;
}

export type RegistryMode = 'READWRITE' | 'READONLY' | 'READONLY_OVERRIDE' | 'IMPORT';

/**
 * Accord's one client for the Confluent Schema Registry REST API (the serde, the CLI, migrations): every
 * failure is a RegistryError with the registry's HTTP status and error_code, or UnavailableError when the
 * registry cannot be reached. Works against Accord's registry and Confluent's alike.
 */
export class RegistryHttpClient {
  constructor(private readonly baseUrl: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { 'content-type': REGISTRY_CONTENT_TYPE, accept: REGISTRY_CONTENT_TYPE },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10000),
      });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      throw new UnavailableError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `schema registry at ${this.baseUrl} is not reachable: ${describeError(cause)}`,
        { cause },
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const err = (parsed ?? {}) as { error_code?: number; message?: string };
      throw new RegistryError(
        response.status,
        err.error_code ?? response.status,
        err.message ?? (text || response.statusText),
      );
    }
    return parsed as T;
  }

  subjects(): Promise<string[]> {
    return this.request('GET', '/subjects');
  }

  versions(subject: string, options: { deleted?: boolean } = {}): Promise<number[]> {
    return this.request(
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions${options.deleted ? '?deleted=true' : ''}`,
    );
  }

  /** A schema by id, as registered, with its references, metadata and rule set. */
  schemaById(id: number): Promise<RegisteredSchema> {
    return this.request('GET', `/schemas/ids/${id}`);
  }

  /**
   * A schema's text with the texts of its references, dependencies first (what an Avro parser needs to
   * resolve the named types it borrows), references of references included.
   */
  async withReferences(schema: RegisteredSchema, seen = new Set<string>()): Promise<string[]> {
    const out: string[] = [];
    for (const ref of schema.references ?? []) {
      const key = `${ref.subject}\u0000${ref.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const referenced = await this.version(ref.subject, ref.version);
      out.push(...(await this.withReferences(referenced, seen)), referenced.schema);
    }
    return out;
  }

  /** POST /subjects/{s}/versions with everything Confluent takes (references, metadata, rule set, and in IMPORT mode id and version). */
  registerFull(
    subject: string,
    body: RegisteredSchema & { id?: number; version?: number },
    options: { normalize?: boolean } = {},
  ): Promise<SubjectVersion> {
    return this.request(
      'POST',
      `/subjects/${encodeURIComponent(subject)}/versions${options.normalize ? '?normalize=true' : ''}`,
      { schemaType: 'AVRO', ...body },
    );
  }

  /** The mode in force (globally, or for a subject, falling back to the global one). */
  async mode(subject?: string): Promise<RegistryMode> {
    const path = subject ? `/mode/${encodeURIComponent(subject)}?defaultToGlobal=true` : '/mode';
    return (await this.request<{ mode: RegistryMode }>('GET', path)).mode;
  }

  async setMode(
    mode: RegistryMode,
    options: { subject?: string; force?: boolean } = {},
  ): Promise<RegistryMode> {
    const path = `${options.subject ? `/mode/${encodeURIComponent(options.subject)}` : '/mode'}${options.force ? '?force=true' : ''}`;
    return (await this.request<{ mode: RegistryMode }>('PUT', path, { mode })).mode;
  }

  /** A subject's own config (undefined when it has none), or the global one. */
  async config(subject?: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.request('GET', subject ? `/config/${encodeURIComponent(subject)}` : '/config');
    } catch (error) {
      if (error instanceof RegistryError && (error.errorCode === 40408 || error.errorCode === 40401))
        return undefined;
      throw error;
    }
  }

  setConfig(subject: string | undefined, config: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.request('PUT', subject ? `/config/${encodeURIComponent(subject)}` : '/config', config);
  }

  version(subject: string, version: number | 'latest'): Promise<SubjectVersion> {
    return this.request('GET', `/subjects/${encodeURIComponent(subject)}/versions/${version}`);
  }

  register(subject: string, schema: string): Promise<{ id: number }> {
    return this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema,
      schemaType: 'AVRO',
    });
  }

  /** The version of `subject` that holds exactly this schema, or undefined. */
  async lookup(subject: string, schema: string): Promise<SubjectVersion | undefined> {
    try {
      return await this.request('POST', `/subjects/${encodeURIComponent(subject)}`, {
        schema,
        schemaType: 'AVRO',
      });
    } catch (error) {
      if (error instanceof RegistryError && (error.errorCode === 40401 || error.errorCode === 40403))
        return undefined;
      throw error;
    }
  }

  /** The subject's own compatibility level, or undefined when it follows the global one. */
  async subjectCompatibility(subject: string): Promise<CompatibilityMode | undefined> {
    try {
      const body = await this.request<{ compatibilityLevel: CompatibilityMode }>(
        'GET',
        `/config/${encodeURIComponent(subject)}`,
      );
      return body.compatibilityLevel;
    } catch (error) {
      if (error instanceof RegistryError && (error.errorCode === 40408 || error.errorCode === 40401))
        return undefined;
      throw error;
    }
  }

  async globalCompatibility(): Promise<CompatibilityMode> {
    return (await this.request<{ compatibilityLevel: CompatibilityMode }>('GET', '/config'))
      .compatibilityLevel;
  }

  setSubjectCompatibility(
    subject: string,
    compatibility: CompatibilityMode,
  ): Promise<{ compatibility: CompatibilityMode }> {
    return this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
  }

  /** Checks a schema against the subject under its mode (all versions the mode names), with reasons. */
  async testCompatibility(
    subject: string,
    schema: string,
  ): Promise<{ is_compatible: boolean; messages: string[] }> {
    const body = await this.request<{ is_compatible: boolean; messages?: string[] }>(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions?verbose=true`,
      { schema, schemaType: 'AVRO' },
    );
    return { is_compatible: body.is_compatible, messages: body.messages ?? [] };
  }
}
