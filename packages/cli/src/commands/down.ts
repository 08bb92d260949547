import type { Command } from '../command';
import { loadStack, stackDown } from '../stack';
import { ENVIRONMENT } from './stack-environment';

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
