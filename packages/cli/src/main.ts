#!/usr/bin/env node
import './preload';
import { asUnavailable, describeError, isAccordError } from '@accord/sdk';
import { type Command, parseCommandArgs } from './command';
import { checkpointsCommand, lagCommand } from './commands/checkpoints';
import { consoleCommand } from './commands/console';
import { consumersCommand } from './commands/consumers';
import { contractsCommand } from './commands/contracts';
import { agentCommand, deployCommand } from './commands/deploy';
import { dlqCommand } from './commands/dlq';
import { downCommand } from './commands/down';
import { escalationsCommand } from './commands/escalations';
import { eventsCommand } from './commands/events';
import { pauseCommand, resumeCommand } from './commands/pause';
import { principalsCommand } from './commands/principals';
import { logsCommand, psCommand, stopCommand } from './commands/ps';
import { publishCommand } from './commands/publish';
import { replayCommand } from './commands/replay';
import { rolesCommand } from './commands/roles';
import { schemasCommand } from './commands/schemas';
import { statusCommand } from './commands/status';
import { tailCommand } from './commands/tail';
import { topicsCommand } from './commands/topics';
import { traceCommand } from './commands/trace';
import { upCommand } from './commands/up';

const COMMANDS: Command[] = [
  upCommand,
  downCommand,
  statusCommand,
  schemasCommand,
  topicsCommand,
  publishCommand,
  tailCommand,
  eventsCommand,
  consumersCommand,
  checkpointsCommand,
  replayCommand,
  dlqCommand,
  escalationsCommand,
  traceCommand,
  consoleCommand,
  pauseCommand,
  resumeCommand,
  deployCommand,
  psCommand,
  logsCommand,
  stopCommand,
  agentCommand,
  lagCommand,
  contractsCommand,
  rolesCommand,
  principalsCommand,
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: accord <command> [options]',
    '',
    'Accord: the coordination layer for fleets of AI agents, on Kafka.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'accord <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    err(`accord: unknown command "${name}" (run 'accord --help' for the list)`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    if (values.help) {
      out(`Usage: ${command.usage}\n\n${command.help}`);
      return 0;
    }
    return await command.run({ positionals, values, out, err });
  } catch (error) {
    const known = isAccordError(error) ? error : asUnavailable(error);
    const code = known ? known.code : 'INTERNAL';
    err(`accord ${command.name}: ${describeError(known ?? error)} [${code}]`);
    return isAccordError(error) && error.code === 'USAGE' ? 2 : 1;
  }
}

if (require.main === module) {
  // `accord … | head` closes stdout early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`accord: ${describeError(error)}\n`);
      process.exitCode = 1;
    },
  );
}
