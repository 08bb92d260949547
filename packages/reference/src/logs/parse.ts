import type { LogLevel } from '../schemas.generated';

/**
 * The log parser's logic: one line (`<ISO time> <LEVEL> <message> key=value…`) into a record, or a reason
 * naming where the line is wrong (the parse stage dead-letters it with that reason).
 */

export const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

export interface ParsedLine {
  loggedAt: number;
  level: LogLevel;
  message: string;
  attributes: Record<string, string>;
}

export class LogLineError extends Error {
  constructor(
    readonly column: number,
    reason: string,
  ) {
    super(`column ${column}: ${reason}`);
    this.name = 'LogLineError';
  }
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const ATTRIBUTE = /^([a-z][a-z0-9_.]*)=(\S*)$/;

export function parseLogLine(line: string): ParsedLine {
  const firstSpace = line.indexOf(' ');
  const time = firstSpace < 0 ? line : line.slice(0, firstSpace);
  if (!TIME.test(time))
    throw new LogLineError(1, `expected an ISO 8601 UTC time, got "${line.slice(0, 40)}"`);
  const rest = line.slice(firstSpace + 1);
  const secondSpace = rest.indexOf(' ');
  const level = secondSpace < 0 ? rest : rest.slice(0, secondSpace);
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new LogLineError(
      firstSpace + 2,
      `expected a level (${LOG_LEVELS.join(', ')}), got "${level.slice(0, 20)}"`,
    );
  const words = secondSpace < 0 ? [] : rest.slice(secondSpace + 1).split(' ');
  const attributes: Record<string, string> = {};
  // Trailing key=value words are attributes; the rest is the message.
  while (words.length > 0) {
    const match = ATTRIBUTE.exec(words[words.length - 1] as string);
    if (!match) break;
    attributes[match[1] as string] = match[2] as string;
    words.pop();
  }
  const message = words.join(' ').trim();
  // Where the message should have begun (1-based): after the time, the level and their spaces.
  if (message === '') throw new LogLineError(firstSpace + level.length + 3, 'the line has no message');
  return { loggedAt: Date.parse(time), level: level as LogLevel, message, attributes };
}
