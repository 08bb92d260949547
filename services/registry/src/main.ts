#!/usr/bin/env node
// First: OpenTelemetry's driver instrumentations patch kafkajs, pg, ioredis and http as they load.
import '@accord/sdk/register';
import { once } from 'node:events';
import { describeError, redactUrl, runService, UsageError } from '@accord/sdk';
import { createRegistryServer } from './http';
import { RegistryStore } from './store';

const HELP = `Usage: node services/registry/dist/main.js [--port <n>] [--host <addr>]

Accord's schema registry: the Confluent Schema Registry REST API (port 8081), stored in Postgres.
Started by \`accord up\`; stops cleanly on SIGTERM or SIGINT.

Options:
  --port <n>      port to listen on (default: the port of SCHEMA_REGISTRY_URL, else 8081)
  --host <addr>   address to bind (default 127.0.0.1)
  -h, --help      this help

Environment:
  REGISTRY_DATABASE_URL   Postgres for the registry's tables, as a least-privilege role
                          (default: DATABASE_URL with the user accord_registry)
  DATABASE_URL            see above
  SCHEMA_REGISTRY_URL     where clients reach this registry (default http://127.0.0.1:8081)`;

if (require.main === module) {
  runService<{ port?: string; host?: string }>({
    name: 'registry',
    help: HELP,
    options: { port: { type: 'string' }, host: { type: 'string' } },
    role: 'accord_registry',
    databaseUrlVariable: 'REGISTRY_DATABASE_URL',
    usesKafka: false,
    poolSize: 10,
    async start({ values, config, pool, databaseUrl, log }) {
      const port = Number(values.port ?? (new URL(config.schemaRegistry.url).port || 8081));
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new UsageError(`--port must be a TCP port, got "${values.port}"`);
      const host = values.host ?? '127.0.0.1';
      try {
        await pool.query('select 1 from registry_schemas limit 1');
      } catch (error) {
        throw new Error(
          `cannot use Postgres at ${redactUrl(databaseUrl)}: ${describeError(error)} (run accord up to migrate)`,
        );
      }
      const server = createRegistryServer({
        store: new RegistryStore(pool),
        pool,
        onError: (error, method, path) => log.error({ method, path, error }, 'request failed'),
      });
      server.listen(port, host);
      try {
        await once(server, 'listening');
      } catch (error) {
        throw new Error(`cannot listen on ${host}:${port}: ${describeError(error)}`);
      }
      return {
        running: { url: `http://${host}:${port}`, postgres: redactUrl(databaseUrl) },
        async stop() {
          server.close();
          server.closeIdleConnections();
          await once(server, 'close');
          return undefined;
        },
      };
    },
  }).then((code) => {
    process.exitCode = code;
  });
}
