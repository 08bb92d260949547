import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/accord <args>` as a user would, with extra environment variables. */
export function accord(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      'bash',
      [join(ROOT, 'scripts', 'accord'), ...args],
      { env: { ...process.env, ...env }, timeout: 240000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** A TCP port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A service's log line (JSON, one per line): its fields, `msg` and `level`. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** The JSON lines of a service's output (chunks as they arrived); other lines are left out. */
export function logLines(chunks: string[]): LogLine[] {
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return []; // a line still being written
      }
    });
}
