import { UsageError } from '@accord/sdk';
import type { Command, CommandContext } from '../command';
import { who, withStackOps } from '../operator';

async function setPaused(paused: boolean, { positionals, values, out }: CommandContext): Promise<number> {
  const [agent, ...extra] = positionals;
  if (!agent) throw new UsageError(`missing <agent> (see: accord ${paused ? 'pause' : 'resume'} --help)`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (paused && (typeof values.reason !== 'string' || !values.reason.trim()))
    throw new UsageError('missing --reason <text> (recorded with the pause)');
  const reason = typeof values.reason === 'string' ? values.reason : undefined;
  const control = await withStackOps((ops) => ops.setAgentPaused(agent, paused, who(), reason));
  out(
    `${agent}: ${control.paused ? 'paused' : 'resumed'} fleet-wide by ${control.changedBy} at ${control.changedAt.toISOString()}${control.reason ? ` (${control.reason})` : ''}`,
  );
  return 0;
}

export const pauseCommand: Command = {
  name: 'pause',
  summary: 'the kill switch: stop an agent fleet-wide (it keeps its checkpoints)',
  usage: 'accord pause <agent> --reason <text>',
  help: `Every replica of the agent stops consuming and proposing at once (told through Postgres); the event
in hand finishes and is checkpointed, nothing after it is handled. Its checkpoints stay where they are:
accord resume <agent> goes on from them. Recorded in agent_controls with who and why.

Options:
  --reason <text>   why (required)`,
  options: { reason: { type: 'string' } },
  run: (ctx) => setPaused(true, ctx),
};

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'undo accord pause: the agent consumes again from its checkpoints',
  usage: 'accord resume <agent> [--reason <text>]',
  help: `Every replica of the agent goes on from its checkpoints. Recorded in agent_controls.

Options:
  --reason <text>   why (optional)`,
  options: { reason: { type: 'string' } },
  run: (ctx) => setPaused(false, ctx),
};
