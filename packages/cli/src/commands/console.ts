import { userInfo } from 'node:os';
import { join } from 'node:path';
import { UsageError, untilSignal } from '@accord/sdk';
import { Ops } from '@accord/sdk/ops';
import type { Command } from '../command';
import { createConsole } from '../console/server';
import { loadStack } from '../stack';

export const consoleCommand: Command = {
  name: 'console',
  summary: 'serve the web console: fleet, metric charts, pipelines, dead letters, escalations, lineage',
  usage: 'accord console [--port <n>] [--host <addr>] [--minutes <n>]',
  help: `Serves the operator console on http://<host>:<port>/ until Ctrl-C:

  Fleet          deployed agents (replicas, readiness, lag, paused, last decision), the objectives
                 (p95 decision latency < 200 ms, context staleness < 50 ms, conflict rate < 1%) and charts
                 per minute: decisions by outcome, conflict rate, decision latency, staleness,
                 compensations and escalations, lag per group
  Pipelines      checkpoints, lag and incidents of every consumer group
  Dead letters   per group; replay or discard one (the same checks as accord dlq)
  Escalations    open ones; accept or reject with a reason (the same checks as accord escalations resolve)
  Conflicts      recent decisions on stale proposals
  Lineage        /trace/<event, proposal or decision id>: the same chain as accord trace
  Report         the main job's latest report (scripts/demo.sh writes it)

It reads the platform's own data (Postgres, Kafka, the supervisor's state); it changes something only
when an operator presses a button on a form. Actions are recorded as ACCORD_USER (default <login>@console).
It listens on 127.0.0.1 unless --host says otherwise: it has no login of its own, so do not expose it.

Options:
  --port <n>      port (default 8090; 0 picks a free one)
  --host <addr>   address to listen on (default 127.0.0.1)
  --minutes <n>   minutes of history in the charts (default 60)`,
  options: { port: { type: 'string' }, host: { type: 'string' }, minutes: { type: 'string' } },
  async run({ positionals, values, out }) {
    if (positionals.length)
      throw new UsageError(`unexpected argument "${positionals[0]}" (see: accord console --help)`);
    const port = values.port === undefined ? 8090 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be a port number, got "${values.port}"`);
    const minutes = values.minutes === undefined ? 60 : Number(values.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60)
      throw new UsageError(
        `--minutes must be a whole number of minutes (1 to 10080), got "${values.minutes}"`,
      );
    const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
    const stack = loadStack();
    const ops = await Ops.connect(stack.config);
    const app = createConsole({
      ops,
      reportFile: join(stack.paths.stateDir, 'reports', 'commerce.html'),
      user: process.env.ACCORD_USER || `${userInfo().username}@console`,
      minutes,
    });
    try {
      const address = await app.listen({ port, host });
      out(`accord console on ${address.replace('0.0.0.0', host)}/ (Ctrl-C stops it)`);
      const signal = await untilSignal();
      out(`stopping (${signal})`);
    } finally {
      await app.close();
      await ops.close();
    }
    return 0;
  },
};
