import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError, type SqlPool } from '@accord/sdk';
import { HttpError, invalidVersion, storeError } from './errors';
import { schemaById, subjects, versionsOfSchema } from './reads';
import { deleteConfig, deleteMode, readConfig, readMode, writeConfig, writeMode } from './settings';
import { entity, type RegistryStore, type VersionRef } from './store';

export const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

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
  // Ids are positive 32-bit integers (the wire format's 4 bytes); anything else names no schema.
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > 2 ** 31 - 1)
    throw new HttpError(404, 40403, `Schema ${raw} not found`);
  return n;
}

const flag = (query: Query, name: string) => query.get(name) === 'true';

/** The Confluent Schema Registry REST API over a RegistryStore. */
export function routes(store: RegistryStore, pool: SqlPool): Route[] {
  const r = (method: string, path: string, handler: Handler): Route => ({
    method,
    // {x} segments match one URL-encoded path segment, captured as the named group x
    pattern: new RegExp(`^${path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
    handler,
  });
  const subjectOf = (p: (name: Param) => string) => p('s');
  const compatibility = async (
    p: (name: Param) => string,
    q: Query,
    body: () => Promise<Record<string, unknown>>,
    v?: string,
  ) => {
    const result = await store.testCompatibility(
      subjectOf(p),
      v === undefined ? undefined : parseVersion(v),
      await body(),
    );
    return flag(q, 'verbose')
      ? { is_compatible: result.compatible, messages: result.messages }
      : { is_compatible: result.compatible };
  };
  return [
    r('GET', '/', async () => ({})),
    r('GET', '/schemas/types', async () => ['AVRO']),
    // Only the default context exists (no multi-context registries here).
    r('GET', '/contexts', async () => ['.']),
    r('GET', '/subjects', async (_, q) => subjects(pool, flag(q, 'deleted'), q.get('subjectPrefix') ?? '')),
    r('GET', '/subjects/{s}/versions', async (p, q) => store.listVersions(p('s'), flag(q, 'deleted'))),
    r('POST', '/subjects/{s}/versions', async (p, q, body) => {
      const { subject: _, ...response } = await store.register(p('s'), await body(), flag(q, 'normalize'));
      return response;
    }),
    r('GET', '/subjects/{s}/versions/{v}', async (p, q) =>
      entity(await store.getVersion(p('s'), parseVersion(p('v')), flag(q, 'deleted'))),
    ),
    r('GET', '/subjects/{s}/versions/{v}/schema', async (p, q) =>
      JSON.parse((await store.getVersion(p('s'), parseVersion(p('v')), flag(q, 'deleted'))).schema),
    ),
    r('GET', '/subjects/{s}/versions/{v}/referencedby', async (p) => {
      const row = await store.getVersion(p('s'), parseVersion(p('v')), false);
      return store.referencedBy(pool, row.subject, row.version);
    }),
    r('POST', '/subjects/{s}', async (p, q, body) => store.lookup(p('s'), await body(), flag(q, 'deleted'))),
    r('DELETE', '/subjects/{s}', async (p, q) => store.deleteSubject(p('s'), flag(q, 'permanent'))),
    r('DELETE', '/subjects/{s}/versions/{v}', async (p, q) =>
      store.deleteVersion(p('s'), parseVersion(p('v')), flag(q, 'permanent')),
    ),
    r('GET', '/schemas/ids/{id}', async (p) => schemaById(pool, parseId(p('id')))),
    r('GET', '/schemas/ids/{id}/schema', async (p) =>
      JSON.parse((await schemaById(pool, parseId(p('id')))).schema),
    ),
    r('GET', '/schemas/ids/{id}/versions', async (p, q) =>
      versionsOfSchema(pool, parseId(p('id')), flag(q, 'deleted')),
    ),
    r('GET', '/schemas/ids/{id}/subjects', async (p, q) => [
      ...new Set((await versionsOfSchema(pool, parseId(p('id')), flag(q, 'deleted'))).map((v) => v.subject)),
    ]),
    r('GET', '/schemas/guids/{id}', async (p) => schemaById(pool, { guid: p('id') })),
    r('GET', '/config', async () => readConfig(pool, undefined, true)),
    r('PUT', '/config', async (_, __, body) => writeConfig(pool, undefined, await body())),
    r('DELETE', '/config', async () => deleteConfig(pool, undefined)),
    r('GET', '/config/{s}', async (p, q) => readConfig(pool, p('s'), flag(q, 'defaultToGlobal'))),
    r('PUT', '/config/{s}', async (p, _, body) => writeConfig(pool, p('s'), await body())),
    r('DELETE', '/config/{s}', async (p) => deleteConfig(pool, p('s'))),
    r('GET', '/mode', async () => readMode(pool, undefined, true)),
    r('PUT', '/mode', async (_, q, body) =>
      writeMode(pool, undefined, (await body()).mode, flag(q, 'force')),
    ),
    r('GET', '/mode/{s}', async (p, q) => readMode(pool, p('s'), flag(q, 'defaultToGlobal'))),
    r('PUT', '/mode/{s}', async (p, q, body) =>
      writeMode(pool, p('s'), (await body()).mode, flag(q, 'force')),
    ),
    r('DELETE', '/mode/{s}', async (p) => deleteMode(pool, p('s'))),
    r('POST', '/compatibility/subjects/{s}/versions', async (p, q, body) => compatibility(p, q, body)),
    r('POST', '/compatibility/subjects/{s}/versions/{v}', async (p, q, body) =>
      compatibility(p, q, body, p('v')),
    ),
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
  /** The store's pool: config and mode are read and written with it. */
  pool: SqlPool;
  /** Called for unexpected (5xx) failures, for logs. */
  onError?: (error: unknown, method: string, path: string) => void;
}

export function createRegistryServer({ store, pool, onError }: RegistryServerOptions): Server {
  const table = routes(store, pool);
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
      let value: string;
      try {
        value = decodeURIComponent(raw);
      } catch {
        throw new HttpError(404, 404, `HTTP 404 Not Found (bad escape in ${name})`);
      }
      // Control characters (NUL included) are never part of a subject, as in Confluent.
      if (name === 's' && CONTROL.test(value))
        throw method === 'POST' || method === 'PUT'
          ? new HttpError(
              422,
              42208,
              `Invalid subject ${JSON.stringify(value)}: control characters are not allowed`,
            )
          : new HttpError(404, 40401, `Subject ${JSON.stringify(value)} not found.`);
      return value;
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
