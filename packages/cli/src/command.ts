import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '@accord/sdk';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Lines of help after the usage line: options and what the command does. */
  help: string;
  options: OptionSpec;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Parses argv for one command; unknown options are a UsageError that names the option. */
export function parseCommandArgs(command: Command, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // Node's own hint about '--' is noise here; keep its first sentence, which names the option.
    const raw = typeof (error as Error)?.message === 'string' ? (error as Error).message : String(error);
    const message = raw.replace(/\. To specify a positional argument.*$/s, '').split('\n')[0];
    throw new UsageError(`${message} (see: accord ${command.name} --help)`);
  }
}

export function formatTable(rows: Record<string, string>[], columns: string[]): string[] {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.toUpperCase())),
    ...rows.map((r) => line(columns.map((c) => r[c] ?? ''))),
  ];
}
