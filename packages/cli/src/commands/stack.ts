import type { Command } from '../command';
import { formatTable } from '../command';
import { loadStack, stackDown, stackStatus, stackUp } from '../stack';

const ENVIRONMENT = `Environment:
  KAFKA_BROKERS        use this Kafka cluster instead of starting a local broker (host:port[,host:port])
  DATABASE_URL         Postgres (default postgres://postgres@127.0.0.1:5432/accord)
  REDIS_URL            Redis (default redis://127.0.0.1:6379)
  ACCORD_KAFKA_PORT    port of the local broker (default 9092); ACCORD_KAFKA_CONTROLLER_PORT (default 9093)
  ACCORD_STATE_DIR     where the local stack keeps data, logs and pids (default <project>/.accord)`;

export const upCommand: Command = {
  name: 'up',
  summary: 'start the local stack (Kafka from Maven jars; reach or start Postgres and Redis; migrate)',
  usage: 'accord up',
  help: `Starts a single-node KRaft Kafka broker from the Apache Kafka jars (downloaded once from Maven Central),
waits until it answers, reaches Postgres and Redis (starting local ones that are stopped), creates the
database and applies migrations. Running it again changes nothing.

${ENVIRONMENT}`,
  options: {},
  async run({ out }) {
    const stack = loadStack();
    await stackUp(stack, (line) => out(`[up] ${line}`));
    out('[up] stack is up');
    return 0;
  },
};

export const downCommand: Command = {
  name: 'down',
  summary: 'stop what `accord up` started, and nothing else',
  usage: 'accord down',
  help: `Stops the broker (and any Postgres or Redis) that \`accord up\` started from this state dir.
Services that were already running before \`accord up\` are left alone. Data is kept for the next \`up\`.

${ENVIRONMENT}`,
  options: {},
  async run({ out }) {
    await stackDown(loadStack(), (line) => out(`[down] ${line}`));
    return 0;
  },
};

export const statusCommand: Command = {
  name: 'status',
  summary: 'show each component of the stack with its address and health',
  usage: 'accord status [--json]',
  help: `Checks every component and prints its address, health and who manages it.
Exit code 0 when every component is healthy, 1 otherwise.

Options:
  --json    print the components as a JSON array

${ENVIRONMENT}`,
  options: { json: { type: 'boolean' } },
  async run({ values, out }) {
    const rows = await stackStatus(loadStack());
    if (values.json) {
      out(JSON.stringify(rows, null, 2));
    } else {
      const table = rows.map((r) => ({
        component: r.component,
        health: r.healthy ? 'up' : 'DOWN',
        address: r.address,
        managed: r.managedBy === 'accord' ? `accord${r.pid ? ` (pid ${r.pid})` : ''}` : 'external',
        detail: r.detail,
      }));
      for (const line of formatTable(table, ['component', 'health', 'address', 'managed', 'detail']))
        out(line);
    }
    return rows.every((r) => r.healthy) ? 0 : 1;
  },
};
