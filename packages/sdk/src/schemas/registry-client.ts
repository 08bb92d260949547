import { describeError, RegistryError, UnavailableError } from '../errors';
import type { CompatibilityMode } from './compatibility';

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SubjectVersion {
  subject: string;
  id: number;
  version: number;
  schema: string;
}

/**
 * A small client for the Confluent Schema Registry REST API, for the parts the CLI and the tests need
 * that @kafkajs/confluent-schema-registry does not expose (listing, config, verbose compatibility).
 * Works against Accord's registry and Confluent's alike.
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

  versions(subject: string): Promise<number[]> {
    return this.request('GET', `/subjects/${encodeURIComponent(subject)}/versions`);
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
