#!/usr/bin/env node
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import {
  createPgPool,
  describeError,
  redactUrl,
  refuseSuperuser,
  resolveConfig,
  serviceDatabaseUrl,
  untilSignal,
} from '@accord/sdk';
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

async function main(argv: string[]): Promise<number> {
  let values: { port?: string; host?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    process.stderr.write(`registry: ${describeError(error)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const config = resolveConfig();
  const port = Number(values.port ?? (new URL(config.schemaRegistry.url).port || 8081));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`registry: --port must be a TCP port, got "${values.port}"\n`);
    return 2;
  }
  const host = values.host ?? '127.0.0.1';
  const dbUrl = serviceDatabaseUrl('accord_registry', 'REGISTRY_DATABASE_URL');
  const pool = createPgPool(dbUrl, { max: 10 });
  try {
    await refuseSuperuser(pool, 'registry', dbUrl, 'accord_registry');
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n`);
    await pool.end();
    return 1;
  }
  try {
    await pool.query('select 1 from registry_schemas limit 1');
  } catch (error) {
    process.stderr.write(
      `registry: cannot use Postgres at ${redactUrl(dbUrl)}: ${describeError(error)} (run accord up to migrate)\n`,
    );
    await pool.end();
    return 1;
  }

  const server = createRegistryServer({
    store: new RegistryStore(pool),
    onError: (error, method, path) =>
      process.stderr.write(`registry: ${method} ${path} failed: ${describeError(error)}\n`),
  });
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    process.stderr.write(`registry: cannot listen on ${host}:${port}: ${describeError(error)}\n`);
    await pool.end();
    return 1;
  }
  process.stdout.write(`registry: listening on http://${host}:${port} (Postgres ${redactUrl(dbUrl)})\n`);

  const signal = await untilSignal();
  process.stdout.write(`registry: ${signal}, finishing requests and stopping\n`);
  server.close();
  server.closeIdleConnections();
  await once(server, 'close');
  await pool.end();
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
