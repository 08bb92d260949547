import { join } from 'node:path';
import { seeded } from '../scenario/traffic';

/**
 * The log pipeline's bundled sample: what six services of a shop wrote over a morning, one file per
 * service, one line per entry (`<ISO time> <LEVEL> <message> key=value…`). Seeded: the same options give
 * the same bytes. It holds what real logs hold: a steady INFO hum, some DEBUG, WARN and ERROR, a few
 * incidents (a service's error rate jumps for a few minutes: what the anomaly stage must find), a few
 * garbled lines (a torn write, a stack-trace line a shipper did not join: what the parser must
 * dead-letter with its reason), and at the end one "sample ends" line per service, at the same instant,
 * which closes every earlier window (windows close on event time: the last one stays open until later
 * lines arrive).
 */
export interface LogSampleOptions {
  seed: number;
  /** First instant (ms). Default 2026-11-24T08:00:00Z. */
  start?: number;
  minutes?: number;
  /** How many incidents (error bursts) to place. Default 3. */
  incidents?: number;
  /** Mean lines per minute of a service. Default 10. */
  linesPerMinute?: number;
}

export interface Incident {
  service: string;
  /** ms; the burst covers [start, end). */
  start: number;
  end: number;
}

export interface LogSample {
  /** Per service, its lines in time order. */
  files: Record<string, string[]>;
  incidents: Incident[];
  /** Lines the parser must refuse. */
  garbled: number;
  lines: number;
  start: number;
  end: number;
}

export const SAMPLE_SERVICES = ['checkout', 'payments', 'inventory', 'search', 'auth', 'gateway'] as const;
export const SAMPLE_START = Date.parse('2026-11-24T08:00:00.000Z');
/** The bundled sample (made by `node services/logs/dist/main.js sample`, seed 7): packages/reference/samples/logs. */
export const BUNDLED_SAMPLE_DIR = join(__dirname, '..', '..', 'samples', 'logs');
export const BUNDLED_SAMPLE_SEED = 7;
export const BUNDLED_SAMPLE_MINUTES = 90;

const ROUTES: Record<string, string[]> = {
  checkout: ['POST /api/cart', 'POST /api/checkout', 'GET /api/cart'],
  payments: ['POST /api/payments', 'POST /api/refunds', 'GET /api/payments'],
  inventory: ['GET /api/stock', 'POST /api/reservations', 'DELETE /api/reservations'],
  search: ['GET /api/search', 'GET /api/suggest'],
  auth: ['POST /api/login', 'POST /api/token/refresh', 'POST /api/logout'],
  gateway: ['GET /', 'GET /api/orders', 'GET /healthz'],
};

export function generateLogSample(options: LogSampleOptions): LogSample {
  const random = seeded(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const start = options.start ?? SAMPLE_START;
  const minutes = options.minutes ?? 120;
  const end = start + minutes * 60_000;
  const rate = options.linesPerMinute ?? 10;
  const incidents: Incident[] = [];
  // Incidents start after a warm-up (the detector needs a baseline) and do not overlap per service.
  for (let i = 0; i < (options.incidents ?? 3); i++) {
    const service = pick(SAMPLE_SERVICES);
    const from = start + Math.floor((0.25 + random() * 0.6) * minutes) * 60_000;
    const length = (3 + Math.floor(random() * 3)) * 60_000;
    if (
      incidents.some(
        (x) => x.service === service && from < x.end + 60_000 && x.start < from + length + 60_000,
      )
    )
      continue;
    incidents.push({ service, start: from, end: Math.min(from + length, end - 60_000) });
  }
  const files: Record<string, string[]> = {};
  let garbled = 0;
  let lines = 0;
  for (const service of SAMPLE_SERVICES) {
    const out: string[] = [];
    const serviceRate = rate * (0.5 + random());
    let t = start + Math.floor(random() * 1000);
    while (t < end) {
      const burst = incidents.find((x) => x.service === service && t >= x.start && t < x.end);
      out.push(line(service, t, burst !== undefined, random, pick));
      if (random() < 0.002) {
        out.push(
          random() < 0.5
            ? '    at processTicksAndRejections (node:internal/process/task_queues:95:5)'
            : `${iso(t).slice(0, 13)}`,
        );
        garbled++;
      }
      // Exponential gaps: a Poisson stream of entries; an incident also raises the volume.
      const perMs = (serviceRate * (burst ? 2.5 : 1)) / 60_000;
      t += Math.max(1, Math.round(-Math.log(1 - random()) / perMs));
    }
    out.push(`${iso(end)} INFO sample ends service=${service}`);
    lines += out.length;
    files[service] = out;
  }
  return { files, incidents, garbled, lines, start, end };
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

function line(
  service: string,
  t: number,
  incident: boolean,
  random: () => number,
  pick: <T>(list: readonly T[]) => T,
): string {
  const req = Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  const route = pick(ROUTES[service] ?? ['GET /']);
  const roll = random();
  const errorShare = incident ? 0.45 : 0.02;
  if (roll < errorShare) {
    const cause = incident
      ? pick([
          'upstream timeout after 5000ms',
          'connection pool exhausted (50/50 in use)',
          'circuit breaker open',
        ])
      : pick([
          'unexpected status 502 from upstream',
          'validation failed: missing field "sku"',
          'deadline exceeded',
        ]);
    return `${iso(t)} ERROR ${route} failed: ${cause} req=${req} service=${service}`;
  }
  if (roll < errorShare + 0.05)
    return `${iso(t)} WARN ${route} slow: ${200 + Math.floor(random() * 1800)}ms req=${req} service=${service}`;
  if (roll < errorShare + 0.13)
    return `${iso(t)} DEBUG cache ${random() < 0.7 ? 'hit' : 'miss'} for ${route} req=${req}`;
  const status = pick([200, 200, 200, 201, 204, 304, 404]);
  return `${iso(t)} INFO ${route} ${status} ${5 + Math.floor(random() * 120)}ms req=${req} service=${service}`;
}
