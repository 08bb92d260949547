/**
 * A service process working through a backlog, measured (bench/service-memory.ts): started with its V8
 * flags and environment, its peak resident memory (VmHWM, read from /proc every 100 ms) and events/s from
 * its "running" log line until `done` says its checkpoints reached the end.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ServiceRun {
  peakMb: number;
  eventsPerSecond: number;
}

/** A process's peak resident memory so far (VmHWM), in MB; 0 once it has exited. */
export function peakRssMb(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0; // exited, or not Linux
  }
}

export async function measureService(o: {
  /** What the errors call it, e.g. "the archive". */
  what: string;
  /** node's arguments: V8 flags, the service's main and its options. */
  args: string[];
  env: NodeJS.ProcessEnv;
  total: number;
  done: () => Promise<boolean>;
}): Promise<ServiceRun> {
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', ...o.args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: o.env,
  });
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, peakRssMb(child.pid!));
  }, 100);
  try {
    // Running once its log says so; its last lines in the error if it exits first.
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 10) tail.shift();
        if (line.includes('"msg":"running"')) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`${o.what} exited (${code}) before running:\n${tail.join('\n')}`)),
      );
    });
    const t0 = Date.now();
    while (!(await o.done())) await new Promise((r) => setTimeout(r, 100));
    const seconds = (Date.now() - t0) / 1000;
    return { peakMb: Math.max(peak, peakRssMb(child.pid!)), eventsPerSecond: o.total / seconds };
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  }
}
