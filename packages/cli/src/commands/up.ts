import { UsageError } from '@accord/sdk';
import type { Command } from '../command';
import { loadStack, stackUp } from '../stack';
import { ENVIRONMENT } from './stack-environment';

export const upCommand: Command = {
  name: 'up',
  summary: 'start the local stack (Kafka from Maven jars; reach or start Postgres and Redis; migrate)',
  usage: 'accord up [--brokers 1|3]',
  help: `Starts a single-node KRaft Kafka broker from the Apache Kafka jars (downloaded once from Maven Central),
waits until it answers, reaches Postgres and Redis (starting local ones that are stopped), creates the
database and applies migrations. Running it again changes nothing, but starts any broker of the local
cluster that is not running (one killed since, say).

Options:
  --brokers <n>   a local cluster of n combined broker+controller nodes (1 or 3; default 1, or the size
                  the stack was formatted with): 3 gives replication factor 3 and min ISR 2, so a broker
                  can be lost without losing an acknowledged event. Node i listens on ACCORD_KAFKA_PORT
                  + 2(i-1) (9092, 9094, 9096), its controller on ACCORD_KAFKA_CONTROLLER_PORT + 2(i-1).

${ENVIRONMENT}`,
  options: { brokers: { type: 'string' } },
  async run({ values, out }) {
    let brokers: number | undefined;
    if (values.brokers !== undefined) {
      brokers = Number(values.brokers);
      if (brokers !== 1 && brokers !== 3)
        throw new UsageError(
          `--brokers must be 1 or 3 (a KRaft quorum of one or three), got "${values.brokers}"`,
        );
    }
    const stack = loadStack();
    await stackUp(stack, (line) => out(`[up] ${line}`), brokers === undefined ? {} : { brokers });
    out('[up] stack is up');
    return 0;
  },
};
