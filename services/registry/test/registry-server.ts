/**
 * The registry server in-process on a random port over a Postgres schema of its own, for the registry's
 * integration tests: `call()` speaks its REST API and checks the content type on every answer.
 */
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createPgPool, resolveConfig } from '@accord/sdk';
import { migrate } from '@accord/sdk/ops';
import { TestContext, uniqueName } from '@accord/testing';
import { createRegistryServer } from '../src/http';
import { RegistryStore } from '../src/store';

export const CT = 'application/vnd.schemaregistry.v1+json';

export interface TestRegistry {
  call(
    method: string,
    path: string,
    body?: unknown,
    raw?: string,
  ): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
  /** Where it listens, for real clients. */
  url: string;
}

export async function startTestRegistry(): Promise<TestRegistry> {
  const ctx = new TestContext();
  const schema = uniqueName('t_schema', '_');
  const config = resolveConfig();
  await migrate(config.postgres.url, resolve(__dirname, '../../../infra/postgres/migrations'), { schema });
  ctx.onCleanup(async () => {
    await ctx.pg().query(`drop schema if exists "${schema}" cascade`);
  });
  const pool = createPgPool(config.postgres.url, { options: `-c search_path=${schema}`, max: 30 });
  const server = createRegistryServer({ store: new RegistryStore(pool), pool });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    async call(method, path, body, raw) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': CT },
        ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(response.headers.get('content-type')).toBe(CT);
      return { status: response.status, body: (await response.json()) as unknown };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await pool.end();
      await ctx.cleanup();
    },
  };
}

export const record = (name: string, fields: unknown[]) =>
  JSON.stringify({ type: 'record', name, namespace: 't', fields });
