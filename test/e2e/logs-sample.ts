import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLogLine } from '@accord/reference';

/** A log sample as the tests read it: per (service, minute) the lines the parser accepts. */
export interface SampleTruth {
  start: number;
  end: number;
  services: string[];
  parsed: number;
  garbled: number;
  /** `service@windowStartMs` of every window that closes (the final instant's window stays open). */
  windows: Map<string, number>;
  incidents: { service: string; start: string; end: string }[];
}

/** Reads a sample written by `services/logs sample` (its <service>.log files and incidents.json). */
export function readSampleTruth(dir: string): SampleTruth {
  const meta = JSON.parse(readFileSync(join(dir, 'incidents.json'), 'utf8'));
  const windows = new Map<string, number>();
  let parsed = 0;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  const services: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const service = name.replace(/\.log$/, '');
    services.push(service);
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (!line) continue;
      let at: number;
      try {
        at = parseLogLine(line).loggedAt;
      } catch {
        continue;
      }
      parsed++;
      start = Math.min(start, at);
      end = Math.max(end, at);
      const key = `${service}@${Math.floor(at / 60_000) * 60_000}`;
      windows.set(key, (windows.get(key) ?? 0) + 1);
    }
  }
  // The last instant ("sample ends", one line per service) opens a window nothing closes.
  for (const service of services) windows.delete(`${service}@${end}`);
  return { start, end, services, parsed, garbled: meta.garbled, windows, incidents: meta.incidents };
}
