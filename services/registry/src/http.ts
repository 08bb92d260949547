import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError } from '@accord/sdk';
import { HttpError, invalidVersion, storeError } from './errors';
import type { RegistryStore, VersionRef } from './store';

export const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type Query = URLSearchParams;
type Param = 's' | 'v' | 'id';
type Handler = (
  param: (name: Param) => string,
  query: Query,
  body: () => Promise<Record<string, unknown>>,
) => Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

function parseVersion(raw: string): VersionRef {
  if (raw === 'latest' || raw === '-1') return 'latest';
  if (!/^\d+$/.test(raw)) throw invalidVersion(raw);
  const n = Number(raw);
  if (n < 1 || n > 2 ** 31 - 1) throw invalidVersion(raw);
  return n;
}

function parseId(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new HttpError(404, 40403, `Schema ${raw} not found`);
  return n;
}

const flag = (query: Query, name: string) => query.get(name) === 'true';

/** The Confluent Schema Registry REST API over a RegistryStore. */
export function routes(store: RegistryStore): Route[] {
  const r = (method: string, path: string, handler: Handler): Route => ({
    method,
    // {x} segments match one URL-encoded path segment, captured as the named group x
    pattern: new RegExp(`^${path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
    handler,
  });
  return [
    r('GET', '/', async () => ({})),
    r('GET', '/schemas/types', async () => ['AVRO']),
    r('GET', '/subjects', async (_, q) => store.subjects(flag(q, 'deleted'))),
    r('GET', '/subjects/{s}/versions', async (p, q) => store.listVersions(p('s'), flag(q, 'deleted'))),
    r('POST', '/subjects/{s}/versions', async (p, _, body) => {
      const b = await body();
      return store.register(p('s'), b.schema, b.schemaType);
    }),
    r('GET', '/subjects/{s}/versions/{v}', async (p, q) => {
      const row = await store.getVersion(p('s'), parseVersion(p('v')), flag(q, 'deleted'));
      return { subject: row.subject, id: row.id, version: row.version, schema: row.schema };
    }),
    r('GET', '/subjects/{s}/versions/{v}/schema', async (p, q) => {
      const row = await store.getVersion(p('s'), parseVersion(p('v')), flag(q, 'deleted'));
      return JSON.parse(row.schema);
    }),
    r('GET', '/subjects/{s}/versions/{v}/referencedby', async (p) => {
      await store.getVersion(p('s'), parseVersion(p('v')), false);
      return []; // schema references are not supported: nothing refers to anything
    }),
    r('POST', '/subjects/{s}', async (p, q, body) => {
      const b = await body();
      const row = await store.lookup(p('s'), b.schema, b.schemaType, flag(q, 'deleted'));
      return { subject: row.subject, id: row.id, version: row.version, schema: row.schema };
    }),
    r('DELETE', '/subjects/{s}', async (p, q) => store.deleteSubject(p('s'), flag(q, 'permanent'))),
    r('DELETE', '/subjects/{s}/versions/{v}', async (p, q) =>
      store.deleteVersion(p('s'), parseVersion(p('v')), flag(q, 'permanent')),
    ),
    r('GET', '/schemas/ids/{id}', async (p) => {
      const row = await store.schemaById(parseId(p('id')));
      // Confluent omits schemaType for AVRO, the default.
      return row.schemaType === 'AVRO' ? { schema: row.schema } : row;
    }),
    r('GET', '/schemas/ids/{id}/schema', async (p) =>
      JSON.parse((await store.schemaById(parseId(p('id')))).schema),
    ),
    r('GET', '/schemas/ids/{id}/versions', async (p, q) =>
      store.versionsOfSchema(parseId(p('id')), flag(q, 'deleted')),
    ),
    r('GET', '/schemas/ids/{id}/subjects', async (p, q) => [
      ...new Set((await store.versionsOfSchema(parseId(p('id')), flag(q, 'deleted'))).map((v) => v.subject)),
    ]),
    r('GET', '/config', async () => ({ compatibilityLevel: await store.getConfig(undefined, true) })),
    r('PUT', '/config', async (_, __, body) => ({
      compatibility: await store.setConfig(undefined, (await body()).compatibility),
    })),
    r('GET', '/config/{s}', async (p, q) => ({
      compatibilityLevel: await store.getConfig(p('s'), flag(q, 'defaultToGlobal')),
    })),
    r('PUT', '/config/{s}', async (p, _, body) => ({
      compatibility: await store.setConfig(p('s'), (await body()).compatibility),
    })),
    r('DELETE', '/config/{s}', async (p) => ({ compatibilityLevel: await store.deleteConfig(p('s')) })),
    r('GET', '/mode', async () => ({ mode: 'READWRITE' })),
    r('POST', '/compatibility/subjects/{s}/versions', async (p, q, body) => {
      const b = await body();
      const result = await store.testCompatibility(p('s'), undefined, b.schema, b.schemaType);
      return flag(q, 'verbose')
        ? { is_compatible: result.compatible, messages: result.messages }
        : { is_compatible: result.compatible };
    }),
    r('POST', '/compatibility/subjects/{s}/versions/{v}', async (p, q, body) => {
      const b = await body();
      const result = await store.testCompatibility(p('s'), parseVersion(p('v')), b.schema, b.schemaType);
      return flag(q, 'verbose')
        ? { is_compatible: result.compatible, messages: result.messages }
        : { is_compatible: result.compatible };
    }),
  ];
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 413, `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      try {
        parsed = text.trim() === '' ? {} : JSON.parse(text);
      } catch (error) {
        reject(new HttpError(400, 400, `Malformed JSON request body: ${(error as Error).message}`));
        return;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        reject(new HttpError(422, 422, 'The request body must be a JSON object'));
        return;
      }
      resolve(parsed as Record<string, unknown>);
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface RegistryServerOptions {
  store: RegistryStore;
  /** Called for unexpected (5xx) failures, for logs. */
  onError?: (error: unknown, method: string, path: string) => void;
}

export function createRegistryServer({ store, onError }: RegistryServerOptions): Server {
  const table = routes(store);
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const method = req.method ?? 'GET';
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const matching = table.filter((route) => route.pattern.test(path));
    const route = matching.find((m) => m.method === method);
    if (!route) {
      if (matching.length) send(res, 405, { error_code: 405, message: 'HTTP 405 Method Not Allowed' });
      else send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
      return;
    }
    const groups = route.pattern.exec(path)?.groups ?? {};
    const param = (name: Param): string => {
      const raw = groups[name];
      if (raw === undefined) throw new Error(`route ${route.pattern} has no parameter ${name}`);
      try {
        return decodeURIComponent(raw);
      } catch {
        throw new HttpError(404, 404, `HTTP 404 Not Found (bad escape in ${name})`);
      }
    };
    Promise.resolve()
      .then(() => route.handler(param, url.searchParams, () => readBody(req)))
      .then(
        (body) => send(res, 200, body),
        (error: unknown) => {
          if (error instanceof HttpError) {
            send(res, error.status, { error_code: error.errorCode, message: error.message });
          } else {
            onError?.(error, method, path);
            const e = storeError();
            send(res, e.status, {
              error_code: e.errorCode,
              message: `${e.message}: ${describeError(error)}`,
            });
          }
        },
      );
  });
}
