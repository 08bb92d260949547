import type { Command } from '../command';
import { loadStack, stackUp } from '../stack';
import { ENVIRONMENT } from './stack-environment';

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
